import type { Argv, CommandModule } from 'yargs';
import { catchInterrupts } from './interrupt.js';

interface VerifyArguments {
  image: string;
  json: boolean;
}

const verify: CommandModule<object, VerifyArguments> = {
  command: 'verify <image>',
  describe: 'Prove every store path in an image whole (NAR hash = registration)',
  builder: (yargs) =>
    (yargs as Argv)
      .positional('image', { type: 'string', describe: 'an image file, or an output folder of nixdisk build / nix-build', demandOption: true })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' }) as Argv<VerifyArguments>,
  handler: async (argv) => {
    const { err, out } = await import('./output.js');
    const { verifyImage, reportIsClean } = await import('../verify.js');
    const interrupts = catchInterrupts(() => process.stderr.write(err.yellow('\nnixdisk: interrupted, cleaning up\n')));
    try {
      const report = await verifyImage(argv.image, undefined, interrupts.signal);
      const clean = reportIsClean(report);
      if (argv.json) {
        process.stdout.write(JSON.stringify({ ...report, clean }, null, 2) + '\n');
      } else {
        const fs = report.filesystem;
        process.stdout.write(
          `${report.image}: ${fs.type} ${fs.label ? `"${fs.label}" ` : ''}at byte ${fs.offsetBytes}, registrations from the ${report.registrationSource}\n`,
        );
        for (const c of report.corrupted) process.stdout.write(`  ${out.red('corrupted')}    ${c.path}\n      expected ${c.expected}\n      found    ${c.actual}\n`);
        for (const p of report.unregistered) process.stdout.write(`  ${out.yellow('unregistered')} ${p}\n`);
        for (const p of report.missing) process.stdout.write(`  ${out.red('missing')}      ${p}\n`);
        const summary = `${report.verified.length} store path(s) verified`;
        process.stdout.write((clean ? out.green(`ok: ${summary}`) : out.red(`FAILED: ${summary}; ${report.corrupted.length} corrupted, ${report.unregistered.length} unregistered, ${report.missing.length} missing`)) + '\n');
      }
      process.exitCode = clean ? 0 : 1;
    } catch (error) {
      if (interrupts.signal.aborted) {
        process.stderr.write('nixdisk: verify interrupted\n');
        process.exitCode = interrupts.exitCode();
        return;
      }
      process.stderr.write(`${err.red('nixdisk: verify failed:')} ${(error as Error).message}\n`);
      process.exitCode = 1;
    } finally {
      interrupts.dispose();
    }
  },
};

export default verify;
