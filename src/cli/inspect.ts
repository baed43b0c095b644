import type { Argv, CommandModule } from 'yargs';
import { catchInterrupts } from './interrupt.js';

interface InspectArguments {
  image: string;
  json: boolean;
}

const inspect: CommandModule<object, InspectArguments> = {
  command: 'inspect <image>',
  describe: 'Print the format, partition table and filesystems of an image',
  builder: (yargs) =>
    (yargs as Argv)
      .positional('image', { type: 'string', describe: 'an image file, or an output folder', demandOption: true })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' }) as Argv<InspectArguments>,
  handler: async (argv) => {
    const { err, out } = await import('./output.js');
    const { mkdtemp } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const { inspectImage } = await import('../image/read.js');
    const { resolveImageFile } = await import('../verify.js');
    const { formatBytes } = await import('../units.js');
    const { stopToolsOn } = await import('../tools.js');
    const { removeTree } = await import('../remove-tree.js');
    const interrupts = catchInterrupts(() => process.stderr.write(err.yellow('\nnixdisk: interrupted, cleaning up\n')));
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-inspect-'));
    try {
      const image = await resolveImageFile(argv.image);
      const { raw: _raw, ...info } = await stopToolsOn(interrupts.signal, () => inspectImage(image, workDir));
      if (argv.json) {
        process.stdout.write(JSON.stringify(info, null, 2) + '\n');
        return;
      }
      process.stdout.write(`${out.bold(info.file)}: ${info.format}, ${formatBytes(info.virtualSizeBytes)}, ${info.table.kind === 'none' ? 'no partition table' : `${info.table.kind} partition table${info.table.id ? ` (id ${info.table.id})` : ''}`}\n`);
      for (const p of info.table.partitions) {
        process.stdout.write(
          `  ${p.number}: ${String(p.startBytes / 512).padStart(10)}–${String((p.startBytes + p.sizeBytes) / 512 - 1).padEnd(10)} ${formatBytes(p.sizeBytes).padStart(10)}  type ${p.type}${p.name ? `  "${p.name}"` : ''}${p.bootable ? '  bootable' : ''}${p.uuid ? `  ${p.uuid}` : ''}\n`,
        );
      }
      for (const fs of info.filesystems) {
        process.stdout.write(`  ${fs.partition === 0 ? 'whole disk' : `partition ${fs.partition}`}: ${fs.type}${fs.label ? ` label "${fs.label}"` : ''}${fs.uuid ? ` uuid ${fs.uuid}` : ''}\n`);
      }
    } catch (error) {
      if (interrupts.signal.aborted) {
        process.stderr.write('nixdisk: inspect interrupted\n');
        process.exitCode = interrupts.exitCode();
        return;
      }
      process.stderr.write(`${err.red('nixdisk: inspect failed:')} ${(error as Error).message}\n`);
      process.exitCode = 1;
    } finally {
      await removeTree(workDir);
      interrupts.dispose();
    }
  },
};

export default inspect;
