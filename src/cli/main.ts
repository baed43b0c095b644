#!/usr/bin/env -S node --max-semi-space-size=4
// V8's young generation grows to 2 × 16 MiB while a build plans thousands of inodes;
// capped at 4 MiB, the peak RSS of a 929 MB store image drops from 153 to 136 MB at no
// cost in time (bench/build-store-image.ts). The #! line is how `nixdisk` starts.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { packageVersion } from '../package.js';
import { commands } from './commands.js';

/** Exit code for bad command-line usage, as `nixdisk check` documents it. */
const USAGE_ERROR = 2;

const cli = yargs(hideBin(process.argv))
  .scriptName('nixdisk')
  .usage('$0 <command> [options]\n\nBuild NixOS disk images from make-disk-image call sites, without a VM.')
  .strict()
  .demandCommand(1, 'Name a command.')
  .recommendCommands()
  .help()
  .alias('h', 'help')
  .version(packageVersion())
  .wrap(Math.min(100, process.stdout.columns ?? 100))
  .fail((message, error) => {
    if (error) throw error;
    process.stderr.write(`nixdisk: ${message}\nRun \`nixdisk --help\` for usage.\n`);
    process.exit(USAGE_ERROR);
  });

for (const command of commands) cli.command(command);

await cli.parseAsync();
