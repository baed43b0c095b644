import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { canonicalGuid, guidFromBytes, guidToBytes, GuidError, isCanonicalGuid, parseGuidAsSgdisk } from '../../../src/image/table/guid.js';

describe('mixed-endian GUID bytes', () => {
  it.each([
    ['C12A7328-F81F-11D2-BA4B-00A0C93EC93B', '28732ac11ff8d211ba4b00a0c93ec93b'],
    ['97FD5997-F390-0B4A-A3F8-D106C1723AEA', '9759fd9790f34a0ba3f8d106c1723aea'],
    ['21686148-6449-6E6F-744E-656564454649', '4861682149646f6e744e656564454649'],
    ['f222513b-ded1-49fa-b591-20ce86a2fe7f', '3b5122f2d1defa49b59120ce86a2fe7f'],
  ])('%s ⇄ %s', (text, hex) => {
    expect(guidToBytes(text).toString('hex')).toBe(hex);
    expect(guidFromBytes(Buffer.from(hex, 'hex'))).toBe(text.toUpperCase());
  });

  it.each(['', 'F222513B-DED1-49FA-B591-20CE86A2FE7', 'F222513BDED149FAB59120CE86A2FE7F', 'G222513B-DED1-49FA-B591-20CE86A2FE7F', '{F222513B-DED1-49FA-B591-20CE86A2FE7F}'])(
    'rejects %j as a canonical GUID',
    (text) => {
      expect(isCanonicalGuid(text)).toBe(false);
      expect(() => canonicalGuid(text)).toThrow(GuidError);
    },
  );

  it('refuses a byte count other than 16', () => {
    expect(() => guidFromBytes(Buffer.alloc(15))).toThrow(/16 bytes/);
  });
});

/** Each case: what sgdisk is given, and what it stores (checked against sgdisk below). */
const SGDISK_CASES: [string, string][] = [
  // nixpkgs' deterministic disk GUID: 35 characters, so read as if it had no dashes.
  ['97FD5997-D90B-4AA3-8D16-C1723AEA73C', '97FD5997-F390-0B4A-A3F8-D106C1723AEA'],
  ['F222513B-DED1-49FA-B591-20CE86A2FE7F', 'F222513B-DED1-49FA-B591-20CE86A2FE7F'],
  ['f222513b-ded1-49fa-b591-20ce86a2fe7f', 'F222513B-DED1-49FA-B591-20CE86A2FE7F'],
  ['{F222513B-DED1-49FA-B591-20CE86A2FE7F}', 'F222513B-DED1-49FA-B591-20CE86A2FE7F'],
  ['F222513BDED149FAB59120CE86A2FE7F', 'F222513B-DED1-49FA-B591-20CE86A2FE7F'],
  ['F222 513B DED1 49FA B591 20CE 86A2 FE7F', 'F222513B-DED1-49FA-B591-20CE86A2FE7F'],
  // Too short for the last field: it stays zero.
  ['F222513BDED149FAB59120CE86A2', 'F222513B-DED1-49FA-B591-000000000000'],
  // Longer than 36: the dashed offsets, extra characters ignored.
  ['F222513B-DED1-49FA-B591-20CE86A2FE7FAB', 'F222513B-DED1-49FA-B591-20CE86A2FE7F'],
  // "0x" reads as 0, "+A" as 0x0A, "-1" as 0xFF.
  ['0x22513BDED149FA+A9120CE86A2FE-1', '0022513B-DED1-49FA-0A91-20CE86A2FEFF'],
];

describe('parseGuidAsSgdisk', () => {
  it.each(SGDISK_CASES)('%j → %s', (input, stored) => {
    expect(parseGuidAsSgdisk(input)).toBe(stored);
  });

  it('yields the disk GUID bytes nixpkgs images carry', () => {
    expect(guidToBytes(parseGuidAsSgdisk('97FD5997-D90B-4AA3-8D16-C1723AEA73C')).toString('hex')).toBe('9759fd9790f34a0ba3f8d106c1723aea');
  });

  it('refuses what sgdisk randomises or cannot read', () => {
    expect(() => parseGuidAsSgdisk('R')).toThrow(/random/);
    expect(() => parseGuidAsSgdisk('rootguid')).toThrow(/random/);
    expect(() => parseGuidAsSgdisk('ZZ22513B-DED1-49FA-B591-20CE86A2FE7F')).toThrow(/"ZZ" at position 0/);
  });

  it('agrees with sgdisk itself', async () => {
    const env = { PATH: `${process.env.PATH}:/usr/sbin:/sbin` };
    const dir = await mkdtemp(join(tmpdir(), 'nixdisk-guid-'));
    try {
      const image = join(dir, 'disk.img');
      const handle = await open(image, 'w');
      await handle.truncate(8 * 1024 * 1024);
      await handle.close();
      await execa('sgdisk', ['-o', image], { env });
      for (const [input] of SGDISK_CASES) {
        await execa('sgdisk', [`--disk-guid=${input}`, image], { env });
        const { stdout } = await execa('sfdisk', ['--json', image], { env });
        expect(JSON.parse(stdout).partitiontable.id, input).toBe(parseGuidAsSgdisk(input));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
