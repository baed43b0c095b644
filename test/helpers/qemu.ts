/**
 * Booting an image under qemu-system-x86_64 for the boot tests: TCG only, serial console
 * on stdout, a bounded run, and at most one VM at a time for the test run (`flock` on
 * the checkout's `.tmp/qemu.lock`, taken without waiting and retried, so the time a boot
 * takes does not include waiting for another VM). The lock lives beside the checkout, not
 * in /tmp, so a run leaves nothing in the machine's temporary folder.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { copyFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const LOCK_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../.tmp');
mkdirSync(LOCK_DIR, { recursive: true });
export const QEMU_LOCK = path.join(LOCK_DIR, 'qemu.lock');
const LOCK_BUSY = 75;

export interface BootRun {
  /** Everything the guest wrote on its serial console. */
  console: string;
  /** Seconds from starting qemu to `marker` on the console, or null when it never came. */
  secondsToMarker: number | null;
  exitCode: number | null;
}

export interface BootRequest {
  image: string;
  format: 'raw' | 'qcow2';
  firmware: 'bios' | 'uefi';
  /** For UEFI: OVMF's code, and the variable store to boot with (copied; the copy is written). */
  ovmfCode?: string;
  ovmfVars?: string;
  /** Scratch folder for the variable store copy. */
  workDir: string;
  marker: string;
  timeoutSeconds: number;
}

function qemuArgs(request: BootRequest, varsCopy: string | null): string[] {
  return [
    '-accel', 'tcg',
    '-machine', 'q35',
    '-m', '512',
    '-nodefaults',
    '-display', 'none',
    '-serial', 'stdio',
    '-no-reboot',
    // snapshot: the guest cannot change the image the test compares afterwards.
    '-drive', `file=${request.image},format=${request.format},if=virtio,snapshot=on`,
    ...(varsCopy
      ? ['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${request.ovmfCode}`, '-drive', `if=pflash,format=raw,unit=1,file=${varsCopy}`]
      : []),
  ];
}

function runOnce(args: string[], request: BootRequest): Promise<BootRun & { lockBusy: boolean }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // `timeout` puts qemu in its own process group; --foreground keeps it in ours, so it
    // dies with the test, and -k kills it should it ignore SIGTERM.
    const child = spawn('flock', ['-n', '-E', String(LOCK_BUSY), QEMU_LOCK, 'timeout', '--foreground', '-k', '5', String(request.timeoutSeconds), 'qemu-system-x86_64', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let secondsToMarker: number | null = null;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('latin1');
      if (secondsToMarker === null && output.includes(request.marker)) secondsToMarker = (performance.now() - started) / 1000;
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ console: output, secondsToMarker, exitCode: code, lockBusy: code === LOCK_BUSY }));
  });
}

export async function bootImage(request: BootRequest): Promise<BootRun> {
  let varsCopy: string | null = null;
  if (request.firmware === 'uefi') {
    if (!request.ovmfCode || !request.ovmfVars) throw new Error('UEFI boot needs ovmfCode and ovmfVars');
    varsCopy = path.join(request.workDir, `vars-${process.pid}-${Date.now()}.fd`);
    await copyFile(request.ovmfVars, varsCopy);
    await chmod(varsCopy, 0o644);
  }
  const args = qemuArgs(request, varsCopy);
  for (;;) {
    const run = await runOnce(args, request);
    if (!run.lockBusy) return run;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
