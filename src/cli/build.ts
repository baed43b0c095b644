import type { Argv, CommandModule } from 'yargs';
import { catchInterrupts } from './interrupt.js';

interface BuildArguments {
  file?: string;
  flake?: string;
  'nixpkgs-input': string;
  attr?: string;
  arg?: string[];
  argstr?: string[];
  include?: string[];
  'out-link': string;
  compression: 'zlib' | 'zstd';
  json: boolean;
}

/** yargs gives `--arg a b --arg c d` as [a, b, c, d]. */
function pairs(flat: readonly string[] | undefined): [string, string][] {
  const result: [string, string][] = [];
  for (let i = 0; i + 1 < (flat?.length ?? 0); i += 2) result.push([flat![i]!, flat![i + 1]!]);
  return result;
}

function usageErrorOf(argv: BuildArguments): string | undefined {
  if ((argv.file === undefined) === (argv.flake === undefined)) return 'Name either FILE or --flake FLAKE#ATTR.';
  if (argv.flake !== undefined && argv.attr !== undefined) return 'With --flake, the attribute goes after the #, not in -A.';
  return undefined;
}

const build: CommandModule<object, BuildArguments> = {
  command: 'build [file]',
  describe: 'Evaluate FILE with Nix and write the image it describes, without a VM',
  builder: (yargs) =>
    (yargs as Argv)
      .positional('file', { type: 'string', describe: 'a .nix file (or <nixpkgs/nixos>) whose value or -A attribute is a make-disk-image call' })
      .option('flake', { type: 'string', describe: 'FLAKE#ATTR: a make-disk-image call in a flake, e.g. .#nixosConfigurations.HOST.config.system.build.NAME' })
      .option('nixpkgs-input', { type: 'string', default: 'nixpkgs', describe: 'with --flake: the input that is nixpkgs' })
      .option('attr', { alias: 'A', type: 'string', describe: 'the attribute path of the call, as nix-build -A' })
      .option('arg', { type: 'string', array: true, nargs: 2, describe: 'NAME EXPR: pass a Nix expression to the file\'s function' })
      .option('argstr', { type: 'string', array: true, nargs: 2, describe: 'NAME STRING: pass a string to the file\'s function' })
      .option('include', { alias: 'I', type: 'string', array: true, describe: 'add a Nix search path entry (PATH or prefix=PATH)' })
      .option('out-link', { alias: 'o', type: 'string', default: 'result', describe: 'the output folder, laid out like nixpkgs\' $out' })
      .option('compression', {
        choices: ['zlib', 'zstd'] as const,
        default: 'zlib' as const,
        describe: 'qcow2-compressed codec: zlib as nixpkgs, or zstd (several times faster; needs QEMU ≥ 5.1 to read)',
      })
      .option('json', { type: 'boolean', default: false, describe: 'progress as one JSON event per line on stderr' })
      .example('$0 build examples/store-only.nix -o result', 'build the example store image into ./result')
      .example("$0 build '<nixpkgs/nixos>' -A config.system.build.qcow -I nixos-config=./configuration.nix", 'an image a NixOS configuration defines')
      .example('$0 build --flake .#nixosConfigurations.host.config.system.build.qcow', 'the same from a flake') as Argv<BuildArguments>,
  handler: async (argv) => {
    const { diagnosticPaint, err, out } = await import('./output.js');
    const usageError = usageErrorOf(argv);
    if (usageError) {
      // As main.ts reports yargs' own usage errors.
      process.stderr.write(`nixdisk: ${usageError}\nRun \`nixdisk --help\` for usage.\n`);
      process.exitCode = 2;
      return;
    }
    const { buildFromFile, ArgumentsError } = await import('../build.js');
    const { formatRecord, toRecord } = await import('../analysis/format.js');
    const { progressMode, progressSink } = await import('./progress.js');
    const progress = progressSink(progressMode(argv.json));
    // With --json every stderr line is one JSON object, failures included, so a script
    // reading the events line by line never meets prose.
    const say = (text: string, event: Record<string, unknown>) =>
      process.stderr.write(argv.json ? JSON.stringify(event) + '\n' : text + '\n');
    const interrupts = catchInterrupts((signal) =>
      say(err.yellow('\nnixdisk: interrupted, cleaning up (press Ctrl-C again to quit at once)'), { type: 'interrupted', signal }),
    );
    try {
      const built = await buildFromFile({
        file: argv.flake ?? argv.file!,
        ...(argv.flake !== undefined ? { flake: { nixpkgsInput: argv['nixpkgs-input'] } } : {}),
        attr: argv.attr,
        args: pairs(argv.arg).map(([name, expr]) => ({ name, expr })),
        argstrs: pairs(argv.argstr).map(([name, value]) => ({ name, value })),
        includes: argv.include ?? [],
        outDir: argv['out-link'],
        compression: argv.compression,
        signal: interrupts.signal,
        emit: progress.emit,
      });
      progress.stop();
      for (const warning of built.warnings) {
        const record = toRecord(argv.flake ?? argv.file!, warning);
        say(formatRecord(record, diagnosticPaint(err)), { type: 'diagnostic', ...record });
      }
      process.stdout.write(out.bold(built.outDir) + '\n');
    } catch (error) {
      progress.stop();
      if (interrupts.signal.aborted) {
        const message = 'build interrupted; nothing was written';
        say(`nixdisk: ${message}`, { type: 'error', interrupted: true, message });
        process.exitCode = interrupts.exitCode();
      } else if (error instanceof ArgumentsError) {
        for (const d of error.diagnostics) {
          const record = toRecord(argv.flake ?? argv.file!, d);
          say(formatRecord(record, diagnosticPaint(err)), { type: 'diagnostic', ...record });
        }
        process.exitCode = 1;
      } else {
        const message = (error as Error).message;
        say(`${err.red('nixdisk: build failed:')} ${message}`, { type: 'error', message });
        process.exitCode = 1;
      }
    } finally {
      interrupts.dispose();
    }
  },
};

export default build;
