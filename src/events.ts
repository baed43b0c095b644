import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What a long-running build reports while it works. The pipeline only emits these;
 * the CLI decides how to show them (a progress bar on a terminal, plain lines
 * otherwise, JSON lines with --json).
 */
export type BuildEvent =
  | { type: 'step'; step: BuildStep; message: string }
  /** `unit` 'bytes': done and total count bytes (shown with a rate and the time left); otherwise steps. */
  | { type: 'progress'; step: BuildStep; done: number; total: number; unit?: 'bytes' }
  | { type: 'log'; step: BuildStep; line: string }
  | { type: 'step-done'; step: BuildStep; seconds: number }
  | { type: 'done'; outDir: string; image: string; seconds: number };

export type BuildStep = 'evaluate' | 'realise' | 'closure' | 'stage' | 'size' | 'populate' | 'assemble' | 'write' | 'convert' | 'postVM';

export type EventSink = (event: BuildEvent) => void;

/** Runs `work` as one named step, reporting its start and duration. */
export async function step<T>(emit: EventSink, name: BuildStep, message: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  emit({ type: 'step', step: name, message });
  const result = await work();
  emit({ type: 'step-done', step: name, seconds: (performance.now() - started) / 1000 });
  return result;
}

/** Bytes done of a total, for the step that is running. */
export type ByteProgress = (done: number, total: number) => void;

const byteProgress = new AsyncLocalStorage<ByteProgress>();

/**
 * Runs `work` so that the long loops deep inside it (the data copy of a filesystem
 * nixdisk fills) report bytes done through `report`, without threading a callback
 * through every disk part and filesystem writer.
 */
export function reportingBytes<T>(report: ByteProgress, work: () => Promise<T>): Promise<T> {
  return byteProgress.run(report, work);
}

/** The reporter reportingBytes set for this call chain, if any. */
export function currentByteProgress(): ByteProgress | undefined {
  return byteProgress.getStore();
}
