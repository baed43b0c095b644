/**
 * The formats nixdisk does not write itself (qcow2-compressed, vdi, vpc, …): `qemu-img
 * convert` turns the raw disk nixdisk wrote into them. Then VDI/VHD identities are pinned.
 */
import { open } from 'node:fs/promises';
import { qemuFormat } from '../options.js';
import { runTool } from '../tools.js';
import { pinVdiHeader, pinVhdFooter, VHD_FOOTER_SIZE } from './format-identity.js';

export type Compression = 'zlib' | 'zstd';

export interface ConvertRequest {
  /** The raw disk. */
  input: string;
  output: string;
  format: string;
  compression: Compression;
  /** Seed and time for the identities qemu-img would otherwise randomise; null keeps qemu-img's. */
  pin: { seed: string; unixTime: number } | null;
  onProgress?: (percent: number) => void;
}

export function qemuImgConvertArgs(request: Pick<ConvertRequest, 'input' | 'output' | 'format' | 'compression'>): string[] {
  const format = qemuFormat(request.format);
  // `-t unsafe`: no fdatasync of the whole output at the end, which cost 0.6-1.2 s for a
  // 1 GB qcow2 here. nixdisk leaves writing back to the kernel for every format, as for
  // the raw images it writes itself (and as cp or tar do).
  const args = ['convert', '-p', '-t', 'unsafe', '-f', 'raw', request.input, '-O', format];
  // Without force_size qemu rounds a VHD up to a CHS geometry, which moves the disk's end
  // away from the backup GPT; nixdisk's disks are whole MiB, which VHD readers take as is.
  if (format === 'vpc') args.push('-o', 'force_size=on');
  if (request.format === 'qcow2-compressed') {
    args.push('-c');
    if (request.compression === 'zstd') args.push('-o', 'compression_type=zstd');
  }
  args.push(request.output);
  return args;
}

export async function convertImage(request: ConvertRequest): Promise<void> {
  await runTool('qemu-img', qemuImgConvertArgs(request), {
    onStdout: (chunk) => {
      // qemu-img -p redraws "    (42.00/100%)" with carriage returns.
      for (const match of chunk.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)) request.onProgress?.(Number(match[1]));
    },
  });
  if (request.pin) await pinIdentity(request.output, qemuFormat(request.format), request.pin.seed, request.pin.unixTime);
}

async function pinIdentity(file: string, format: string, seed: string, unixTime: number): Promise<void> {
  if (format !== 'vdi' && format !== 'vpc') return;
  const handle = await open(file, 'r+');
  try {
    if (format === 'vdi') {
      const header = Buffer.alloc(512);
      await handle.read(header, 0, header.length, 0);
      await handle.write(pinVdiHeader(header, seed), 0, header.length, 0);
      return;
    }
    // A dynamic VHD keeps a copy of the footer at the start of the file as well as at the end.
    const { size } = await handle.stat();
    for (const position of [0, size - VHD_FOOTER_SIZE]) {
      const footer = Buffer.alloc(VHD_FOOTER_SIZE);
      await handle.read(footer, 0, VHD_FOOTER_SIZE, position);
      await handle.write(pinVhdFooter(footer, seed, unixTime), 0, VHD_FOOTER_SIZE, position);
    }
  } finally {
    await handle.close();
  }
}
