#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS NIXDISK_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node --max-semi-space-size=4
// The #! line is how `nixdisk` starts. V8's young generation grows to 2 × 16 MiB while a
// build plans thousands of inodes; capped at 4 MiB, the peak RSS of a 929 MB store image
// drops from 153 to 136 MB at no cost in time (bench/build-store-image.ts). Node reads
// the certificates NODE_EXTRA_CA_CERTS names before any code runs (50 ms of every start
// on the build machines with Debian's bundle), and nixdisk opens no TLS connection: Node
// starts without it, and the tools nixdisk runs get it back below.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { packageVersion } from '../package.js';
import { commands } from './commands.js';

if (process.env.NIXDISK_EXTRA_CA_CERTS !== undefined) {
  if (process.env.NIXDISK_EXTRA_CA_CERTS !== '') process.env.NODE_EXTRA_CA_CERTS = process.env.NIXDISK_EXTRA_CA_CERTS;
  delete process.env.NIXDISK_EXTRA_CA_CERTS;
}

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
