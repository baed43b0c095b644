import type { CommandModule } from 'yargs';

/**
 * `nixdisk build-derivation`: the builder of nixlib/make-disk-image.nix's derivation, run
 * by Nix, not by people (hidden from --help). Everything it needs is in the build's
 * environment; progress goes to the build log as plain lines.
 */
const buildDerivation: CommandModule<object, object> = {
  command: 'build-derivation',
  describe: false,
  handler: async () => {
    const { buildDerivation: run } = await import('../build-derivation.js');
    const { ArgumentsError } = await import('../build.js');
    const { formatRecord, toRecord } = await import('../analysis/format.js');
    const { progressSink } = await import('./progress.js');
    const progress = progressSink('plain');
    const controller = new AbortController();
    const interrupt = () => controller.abort(new Error('interrupted'));
    process.on('SIGINT', interrupt);
    process.on('SIGTERM', interrupt);
    try {
      const built = await run({ env: process.env, emit: progress.emit, signal: controller.signal });
      process.stderr.write(`nixdisk: wrote ${built.imagePath}\n`);
    } catch (error) {
      if (error instanceof ArgumentsError) {
        for (const d of error.diagnostics) process.stderr.write(formatRecord(toRecord(error.file, d)) + '\n');
      } else {
        process.stderr.write(`nixdisk: build failed: ${(error as Error).message}\n`);
      }
      process.exitCode = 1;
    } finally {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
    }
  },
};

export default buildDerivation;
