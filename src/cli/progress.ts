/**
 * Shows BuildEvents: a progress bar on a terminal (bytes done of total, rate, time left),
 * plain lines otherwise (one per tenth of a long step), and one JSON object per line
 * with --json (for scripts). Progress goes to stderr so stdout stays for results.
 */
import cliProgress from 'cli-progress';
import type { BuildEvent, BuildStep, EventSink } from '../events.js';
import { formatBytes } from '../units.js';
import { err } from './output.js';

/** "512 MiB of 1 GiB (50%), 128 MiB/s, 4 s left": bytes done after `seconds`; pure. */
export function describeByteProgress(done: number, total: number, seconds: number): string {
  const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
  const rate = seconds > 0 ? done / seconds : 0;
  const left = rate > 0 ? `, ${formatDuration((total - done) / rate)} left` : '';
  return `${formatBytes(done)} of ${formatBytes(total)} (${percent}%)${rate > 0 ? `, ${formatBytes(rate)}/s` : ''}${left}`;
}

function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
}

export type ProgressMode = 'bar' | 'plain' | 'json';

export function progressMode(json: boolean): ProgressMode {
  if (json) return 'json';
  return process.stderr.isTTY ? 'bar' : 'plain';
}

export function progressSink(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): { emit: EventSink; stop: () => void } {
  if (mode === 'json') {
    return { emit: (event) => stream.write(JSON.stringify(event) + '\n'), stop: () => {} };
  }
  const started = new Map<BuildStep, number>();
  const secondsInto = (step: BuildStep) => {
    if (!started.has(step)) started.set(step, performance.now());
    return (performance.now() - started.get(step)!) / 1000;
  };
  if (mode === 'plain') {
    const tenthsShown = new Map<BuildStep, number>();
    const emit = (event: BuildEvent) => {
      if (event.type === 'progress' && event.unit === 'bytes') {
        const seconds = secondsInto(event.step);
        const tenths = event.total > 0 ? Math.floor((event.done / event.total) * 10) : 10;
        if (tenths > (tenthsShown.get(event.step) ?? 0)) {
          tenthsShown.set(event.step, tenths);
          stream.write(err.dim(`    ${event.step}: ${describeByteProgress(event.done, event.total, seconds)}\n`));
        }
        return;
      }
      plainLine(event, stream);
    };
    return { emit, stop: () => {} };
  }
  let bar: cliProgress.SingleBar | undefined;
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
  };
  const emit = (event: BuildEvent) => {
    if (event.type === 'progress') {
      const bytes = event.unit === 'bytes';
      const seconds = secondsInto(event.step);
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: bytes
              ? `  ${event.step} [{bar}] {percentage}% | {value} of {total} | {rate}/s | {eta_formatted} left`
              : `  ${event.step} [{bar}] {percentage}% | {value}/{total}`,
            formatValue: (value, options, type) => (bytes && (type === 'value' || type === 'total') ? formatBytes(value) : cliProgress.Format.ValueFormat(value, options, type)),
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(event.total, event.done, { rate: formatBytes(0) });
      }
      bar.setTotal(event.total);
      bar.update(event.done, { rate: formatBytes(seconds > 0 ? event.done / seconds : 0) });
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
