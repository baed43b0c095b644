#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
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
  .version()
  .wrap(Math.min(100, process.stdout.columns ?? 100))
  .fail((message, error) => {
    if (error) throw error;
    process.stderr.write(`nixdisk: ${message}\nRun \`nixdisk --help\` for usage.\n`);
    process.exit(USAGE_ERROR);
  });

for (const command of commands) cli.command(command);

await cli.parseAsync();
