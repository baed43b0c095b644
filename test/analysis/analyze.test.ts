import { describe, expect, it } from 'vitest';
import { analyzeFile } from '../../src/analysis/analyze.js';
import { describeLayout, planCallSite } from '../../src/analysis/plan-view.js';
import { argumentsFromJson } from '../../src/analysis/from-json.js';
import { applyDefaults } from '../../src/analysis/schema.js';
import { NO_RANGE } from '../../src/syntax/range.js';

const BROKEN_WITHOUT_CALL = '{ pkgs }: { a = ; b = [ 1 2 \n';
const BROKEN_WITH_CALL = '{ pkgs, lib, config }:\nimport <nixpkgs/nixos/lib/make-disk-image.nix> {\n  inherit pkgs lib config;\n  format = "raw"\n  fsType = "ext4";\n}\n';

describe('analyzeFile', () => {
  it('is silent on files without a call site, syntax errors included, unless asked', () => {
    expect(analyzeFile('/x.nix', BROKEN_WITHOUT_CALL)).toEqual({ callSites: [], diagnostics: [] });
    const asked = analyzeFile('/x.nix', BROKEN_WITHOUT_CALL, { alwaysReportSyntaxErrors: true });
    expect(asked.diagnostics.length).toBeGreaterThan(0);
    expect(asked.diagnostics.every((d) => d.code === 'syntax-error' && d.severity === 'error')).toBe(true);
  });

  it('reports syntax errors in files with a call site and still checks the call', () => {
    const analysis = analyzeFile('/x.nix', BROKEN_WITH_CALL);
    expect(analysis.callSites).toHaveLength(1);
    expect(analysis.diagnostics.map((d) => d.code)).toContain('syntax-error');
  });

  it.each(['', '\0\0\0', '{'.repeat(5000), 'import <nixpkgs/nixos/lib/make-disk-image.nix> ' + '('.repeat(3000), 'x: '.repeat(2000) + 'x'])(
    'does not throw on pathological input %#',
    (text) => {
      const analysis = analyzeFile('/x.nix', text, { alwaysReportSyntaxErrors: true });
      expect(analysis.diagnostics.filter((d) => d.code === 'internal-error')).toEqual([]);
    },
  );

  it('orders diagnostics by position', () => {
    const text = '{ pkgs, lib, config }:\nimport <nixpkgs/nixos/lib/make-disk-image.nix> {\n  inherit pkgs lib config;\n  memSize = 1;\n  format = "x";\n  bootSize = "1MB";\n}\n';
    const lines = analyzeFile('/x.nix', text).diagnostics.map((d) => d.range.start.line);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
  });
});

function layoutOf(json: Record<string, unknown>) {
  return describeLayout(applyDefaults(argumentsFromJson(json, NO_RANGE), NO_RANGE));
}

describe('plan layout', () => {
  it('places the efi layout of a 2 GiB disk as parted does (NOTES: 16384–526335, 526336–4192255)', () => {
    const layout = layoutOf({ partitionTableType: 'efi', diskSize: 2048 });
    expect(layout).toMatchObject({
      table: 'gpt',
      diskSizeBytes: 2048 * 1024 * 1024,
      imageFile: 'nixos.img',
      rootPartition: 2,
      partitions: [
        { number: 1, name: 'ESP', type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', startBytes: 16384 * 512, sizeBytes: (526335 - 16384 + 1) * 512 },
        { number: 2, name: 'primary', uniqueGuid: 'F222513B-DED1-49FA-B591-20CE86A2FE7F', startBytes: 526336 * 512, sizeBytes: (4192255 - 526336 + 1) * 512 },
      ],
    });
  });

  it('leaves the root size open for diskSize = "auto" but knows where it starts', () => {
    const layout = layoutOf({ partitionTableType: 'legacy+boot' });
    expect(layout).toMatchObject({ table: 'mbr', diskSizeBytes: null, partitions: [{ type: '0x0c', bootable: true }, { type: '0x83', startBytes: 257 * 1024 * 1024, sizeBytes: null }] });
  });

  it('marks what depends on dynamic values', () => {
    expect(layoutOf({ partitionTableType: { $dynamic: 'from config' } })).toEqual({ $dynamic: 'partitionTableType is not known (from config)' });
    const layout = layoutOf({ partitionTableType: 'efi', rootGPUID: { $dynamic: 'secret' } });
    expect('partitions' in layout && layout.partitions[1]!.uniqueGuid).toEqual({ $dynamic: 'rootGPUID is not known (secret)' });
    const random = layoutOf({ partitionTableType: 'efi', deterministic: false });
    expect('partitions' in random && random.partitions.map((p) => p.uniqueGuid)).toEqual(['random', 'random']);
  });

  it('reports an impossible fixed layout as an error, not a throw', () => {
    expect(layoutOf({ partitionTableType: 'efi', diskSize: 100 })).toHaveProperty('$error');
  });

  it('plans every call site with options after defaults', () => {
    const [site] = analyzeFile('/x.nix', '{ pkgs, lib, config }:\nimport <nixpkgs/nixos/lib/make-disk-image.nix> { inherit pkgs lib config; format = "vpc"; }\n').callSites;
    const plan = planCallSite(site!);
    expect(plan).toMatchObject({ line: 2, column: 1, options: { format: 'vpc', pkgs: { $dynamic: expect.any(String) }, label: 'nixos' } });
    expect(plan.defaulted).toContain('label');
    expect(plan.defaulted).not.toContain('format');
    expect(plan.layout).toMatchObject({ imageFile: 'nixos.vhd', rootPartition: 1 });
  });
});
