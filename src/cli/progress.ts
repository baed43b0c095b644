/**
 * Shows BuildEvents: a progress bar on a terminal, plain lines otherwise, and one JSON
 * object per line with --json (for scripts). Progress goes to stderr so stdout stays
 * for results.
 */
import cliProgress from 'cli-progress';
import type { BuildEvent, EventSink } from '../events.js';
import { err } from './output.js';

export type ProgressMode = 'bar' | 'plain' | 'json';

export function progressMode(json: boolean): ProgressMode {
  if (json) return 'json';
  return process.stderr.isTTY ? 'bar' : 'plain';
}

export function progressSink(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): { emit: EventSink; stop: () => void } {
  if (mode === 'json') {
    return { emit: (event) => stream.write(JSON.stringify(event) + '\n'), stop: () => {} };
  }
  if (mode === 'plain') {
    return { emit: (event) => plainLine(event, stream), stop: () => {} };
  }
  let bar: cliProgress.SingleBar | undefined;
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
  };
  const emit = (event: BuildEvent) => {
    if (event.type === 'progress') {
      if (!bar) {
        bar = new cliProgress.SingleBar(
          { stream, format: `  ${event.step} [{bar}] {percentage}% | {value}/{total}`, hideCursor: true, clearOnComplete: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(event.total, event.done);
      }
      bar.setTotal(event.total);
      bar.update(event.done);
      return;
    }
    stopBar();
    plainLine(event, stream);
  };
  return { emit, stop: stopBar };
}

function plainLine(event: BuildEvent, stream: NodeJS.WriteStream): void {
  switch (event.type) {
    case 'step':
      stream.write(`${err.bold('==>')} ${event.message}\n`);
      return;
    case 'log':
      stream.write(err.dim(`    ${event.line}\n`));
      return;
    case 'step-done':
      stream.write(err.dim(`    ${event.step} took ${event.seconds.toFixed(2)} s\n`));
      return;
    case 'done':
      stream.write(`${err.green('==>')} ${event.image} (${event.seconds.toFixed(1)} s)\n`);
      return;
    case 'progress':
      // Plain output shows steps, not percentages: a log full of redraws helps nobody.
      return;
  }
}
