import type { Argv, CommandModule } from 'yargs';

interface LspArguments {
  stdio: boolean;
}

const lsp: CommandModule<object, LspArguments> = {
  command: 'lsp',
  describe: 'Language server for make-disk-image calls: diagnostics, hover, completion, quick fixes',
  builder: (yargs) =>
    (yargs as Argv)
      .option('stdio', { type: 'boolean', default: true, describe: 'Talk LSP over stdin/stdout (the only transport; editors pass it)' })
      .epilogue(
        [
          'Runs next to a Nix language server (nil, nixd): it only speaks about make-disk-image',
          'call sites, with the same diagnostics as `nixdisk check`. Never runs Nix or code',
          'from the files it is given.',
        ].join('\n'),
      ) as unknown as Argv<LspArguments>,
  handler: async () => {
    const { serveStdio } = await import('../lsp/server.js');
    serveStdio();
  },
};

export default lsp;
