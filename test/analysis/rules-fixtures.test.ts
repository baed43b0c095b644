import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { analyzeFile } from '../../src/analysis/analyze.js';
import { toRecord } from '../../src/analysis/format.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'rules');
const fixtures = readdirSync(dir).filter((name) => name.endsWith('.nix'));

/** Each fixture .nix file beside the diagnostics `nixdisk check --format json` must give for it (without `file`). */
describe('rule fixtures', () => {
  it('exist', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(4);
  });

  it.each(fixtures)('%s', (name) => {
    const file = path.join(dir, name);
    const analysis = analyzeFile(file, readFileSync(file, 'utf8'), { alwaysReportSyntaxErrors: true });
    const records = analysis.diagnostics.map((d) => {
      const { file: _file, ...rest } = toRecord(name, d);
      return rest;
    });
    const expected = JSON.parse(readFileSync(file.replace(/\.nix$/, '.expected.json'), 'utf8'));
    expect(records).toEqual(expected);
  });
});
