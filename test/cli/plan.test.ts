import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPlan, planFile } from '../../src/cli/plan.js';
import { PACKAGE_ROOT } from '../../src/package.js';

const CLI = path.join(PACKAGE_ROOT, 'dist', 'nixdisk.js');
const run = promisify(execFile);

let dir: string;
let file: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nixdisk-plan-'));
  file = path.join(dir, 'image.nix');
  await writeFile(
    file,
    '{ pkgs, lib, config }:\n{\n  img = import <nixpkgs/nixos/lib/make-disk-image.nix> {\n    inherit pkgs lib config;\n    partitionTableType = "hybrid";\n    diskSize = 2048;\n    format = "qcow2";\n    label = config.networking.hostName;\n  };\n}\n',
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('plan (in process)', () => {
  it('gives options after defaults and the hybrid layout with byte offsets', async () => {
    const { plan, diagnostics } = await planFile(file);
    expect(diagnostics).toEqual([]);
    expect(plan.callSites).toHaveLength(1);
    const [site] = plan.callSites;
    expect(site).toMatchObject({ line: 3, column: 9, options: { format: 'qcow2', fsType: 'ext4', label: { $dynamic: expect.any(String) } } });
    expect(site!.layout).toMatchObject({
      table: 'gpt',
      imageFile: 'nixos.qcow2',
      diskGuid: '97FD5997-F390-0B4A-A3F8-D106C1723AEA',
      partitions: [
        { number: 1, name: 'ESP', startBytes: 8 * 1024 * 1024 },
        { number: 2, name: 'no-fs', startBytes: 34 * 512, sizeBytes: (2048 - 34 + 1) * 512 },
        { number: 3, name: 'primary', startBytes: 257 * 1024 * 1024, sizeBytes: (4192255 - 526336 + 1) * 512 },
      ],
    });
    const human = formatPlan(plan);
    expect(human).toContain('layout: hybrid (GPT)');
    expect(human).toMatch(/label +<dynamic: /);
    expect(human).toContain('3. root "primary"');
  });
});

describe('nixdisk plan (compiled CLI)', () => {
  it('prints the JSON shape { file, callSites: [{ line, column, options, layout }] }', async () => {
    expect(existsSync(CLI), `${CLI} is missing: run \`bash scripts/setup.sh\` first`).toBe(true);
    const { stdout } = await run(CLI, ['plan', '--json', file]);
    const json = JSON.parse(stdout);
    expect(json.file).toBe(file);
    expect(json.callSites[0]).toMatchObject({ line: 3, column: 9, options: { partitionTableType: 'hybrid' }, layout: { rootPartition: 3 } });
  });

  it('exits 2 for a missing file', async () => {
    expect(existsSync(CLI)).toBe(true);
    const failure = await run(CLI, ['plan', path.join(dir, 'nope.nix')]).catch((e) => e);
    expect(failure.code).toBe(2);
    expect(failure.stderr).toContain('cannot read');
  });
});
