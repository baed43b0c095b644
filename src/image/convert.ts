/**
 * The formats nixdisk does not write itself (qcow2-compressed with zstd, see
 * disk/write-disk.ts imageRoute): `qemu-img convert` turns the raw disk nixdisk wrote into them.
 */
import { qemuFormat } from '../options.js';
import { runTool } from '../tools.js';

export type Compression = 'zlib' | 'zstd';

export interface ConvertRequest {
  /** The raw disk. */
  input: string;
  output: string;
  format: string;
  compression: Compression;
  onProgress?: (percent: number) => void;
}

export function qemuImgConvertArgs(request: Pick<ConvertRequest, 'input' | 'output' | 'format' | 'compression'>): string[] {
  const format = qemuFormat(request.format);
  // `-t unsafe`: no fdatasync of the whole output at the end, which cost 0.6-1.2 s for a
  // 1 GB qcow2 here. nixdisk leaves writing back to the kernel for every format, as for
  // the raw images it writes itself (and as cp or tar do).
  const args = ['convert', '-p', '-t', 'unsafe', '-f', 'raw', request.input, '-O', format];
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
}
