/** Writing bytes at a file offset whole: writeSync may write fewer than it was given. */
import { writeSync } from 'node:fs';

export function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}
