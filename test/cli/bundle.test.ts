/**
 * What each command loads from the built bundle (scripts/bundle.mjs): dist/nixdisk.js
 * and the chunks it imports statically are paid for by every command; a command's own
 * code comes in through the import() of its handler. Read from the built files, where
 * esbuild marks each bundled module with a `// path/of/module` line.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/package.js';

const BIN = path.join(PACKAGE_ROOT, 'dist', 'nixdisk.js');

/** `file` and every file it imports statically, transitively (not the import() calls). */
function staticClosure(file: string): string[] {
  const seen = new Set<string>();
  const pending = [file];
  while (pending.length > 0) {
    const current = pending.pop()!;
    if (seen.has(current)) continue;
    seen.add(current);
    // `import { a } from "./chunk.js";` (often over several lines) and `import "./chunk.js";`; not import("./chunk.js").
    for (const [, target] of readFileSync(current, 'utf8').matchAll(/(?:\bfrom|^import) "(\.\.?\/[^"]+)";$/gm)) {
      pending.push(path.resolve(path.dirname(current), target!));
    }
  }
  return [...seen];
}

/** The source modules bundled into `files`. */
function modulesIn(files: readonly string[]): string[] {
  return files.flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/^\/\/ ((?:src|node_modules)\/\S+)$/gm)].map(([, module]) => module!));
}

/** The chunk the bin's handlers import() for `module` (a file under src/, e.g. build.ts). */
function chunkImportedFor(module: string): string {
  const name = path.basename(module, '.ts');
  const found = readFileSync(BIN, 'utf8').match(new RegExp(`import\\("(\\./chunks/${name}-[A-Z0-9]+\\.js)"\\)`));
  if (!found) throw new Error(`dist/nixdisk.js has no import() of a chunk for ${module}; was it built by scripts/bundle.mjs?`);
  return path.resolve(path.dirname(BIN), found[1]!);
}

const COMMAND_WORK = /^(src\/(analysis|image|nix|syntax|lsp)\/|node_modules\/(execa|vscode-|tree-sitter|chalk|cli-progress)[^/]*\/)/;

describe('the bundle loads each command\'s code when it runs', () => {
  it('the bin itself (all that --version and --help load): yargs and the command table, none of the commands\' work', () => {
    const modules = modulesIn(staticClosure(BIN));
    expect(modules).toContain('src/cli/commands.ts');
    expect(modules.some((module) => module.startsWith('node_modules/yargs/'))).toBe(true);
    expect(modules.filter((module) => COMMAND_WORK.test(module))).toEqual([]);
  });

  it('build: Nix first, the image pipeline through an import() of its own (loaded while Nix evaluates), not the language server', () => {
    const buildFiles = staticClosure(chunkImportedFor('src/build.ts'));
    const modules = modulesIn(buildFiles);
    expect(modules).toEqual(expect.arrayContaining(['src/build.ts', 'src/nix/evaluate.ts']));
    expect(modules).not.toContain('src/image/build-image.ts');
    const pipelineChunks = buildFiles.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/import\("(\.\/build-image-[A-Z0-9]+\.js)"\)/g)].map(([, chunk]) => path.resolve(path.dirname(file), chunk!)),
    );
    expect(pipelineChunks).toHaveLength(1);
    const pipeline = modulesIn(staticClosure(pipelineChunks[0]!));
    expect(pipeline).toContain('src/image/build-image.ts');
    expect([...modules, ...pipeline].filter((module) => /^(src\/lsp\/|node_modules\/vscode-)/.test(module))).toEqual([]);
  });

  it('check: the analysis, not the image pipeline', () => {
    const modules = modulesIn(staticClosure(chunkImportedFor('src/analysis/analyze.ts')));
    expect(modules).toContain('src/analysis/analyze.ts');
    expect(modules.filter((module) => /^(src\/image\/build-image|src\/nix\/|src\/lsp\/|node_modules\/(execa|vscode-))/.test(module))).toEqual([]);
  });
});
