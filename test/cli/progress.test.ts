import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { describeByteProgress, progressSink } from '../../src/cli/progress.js';

describe('describeByteProgress', () => {
  it.each([
    [512 * 2 ** 20, 2 ** 30, 4, '512 MiB of 1 GiB (50%), 128 MiB/s, 4 s left'],
    [0, 2 ** 30, 0, '0 B of 1 GiB (0%)'],
    [2 ** 30, 2 ** 30, 8, '1 GiB of 1 GiB (100%), 128 MiB/s, 0 s left'],
    [2 ** 20, 101 * 2 ** 20, 1, '1 MiB of 101 MiB (0%), 1 MiB/s, 1 min 40 s left'],
  ])('%d of %d after %d s', (done, total, seconds, expected) => {
    expect(describeByteProgress(done, total, seconds)).toBe(expected);
  });
});

describe('plain progress', () => {
  it('prints a line per tenth of a byte-counted step, not per event', () => {
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (chunk) => (text += chunk));
    const { emit } = progressSink('plain', stream as unknown as NodeJS.WriteStream);
    for (let done = 0; done <= 100; done++) emit({ type: 'progress', step: 'convert', done: done * 2 ** 20, total: 100 * 2 ** 20, unit: 'bytes' });
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(10);
    expect(lines.at(-1)).toContain('100 MiB of 100 MiB (100%)');
  });
});
