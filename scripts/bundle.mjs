// Bundles the CLI into dist/nixdisk.js (the bin) and the chunks it loads with import(),
// dist/chunks/. Node's ESM loader resolving, reading and compiling 285 module files cost
// more start-up time (0.27 s before the first step of a build) than one bundle (0.16 s).
// But V8 compiled all of one 1.4 MB file for every command: split at the commands'
// import() calls, `nixdisk --version` loads only yargs and the command table (0.21 s ->
// 0.14 s), `check` not the image pipeline, `build` not the language server.
// Native addons (tree-sitter) stay outside: nixdisk loads them with createRequire.
import { chmodSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry a content hash: old ones would pile up, and nixlib copies the folder to the store.
rmSync('dist/chunks', { recursive: true, force: true });
await build({
  entryPoints: { nixdisk: 'src/cli/main.ts' },
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // CommonJS dependencies bundled into an ES module still call require() for Node's built-ins.
  banner: { js: "import { createRequire as bundleRequire } from 'node:module';\nconst require = bundleRequire(import.meta.url);" },
});
chmodSync('dist/nixdisk.js', 0o755);
