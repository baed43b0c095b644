import { describe, expect, it } from 'vitest';
import { qemuImgConvertArgs } from '../../src/image/convert.js';
import { derivedUuidBytes, pinVdiHeader, pinVhdFooter, VHD_EPOCH, vhdChecksum } from '../../src/image/format-identity.js';

describe('derivedUuidBytes', () => {
  it('is stable, seed-dependent and shaped like a version-4 UUID', () => {
    const a = derivedUuidBytes('seed');
    expect(derivedUuidBytes('seed')).toEqual(a);
    expect(derivedUuidBytes('other')).not.toEqual(a);
    expect(a[6]! >> 4).toBe(4);
    expect(a[8]! >> 6).toBe(0b10);
  });
});

describe('qemuImgConvertArgs', () => {
  it.each([
    ['raw', 'zlib', ['convert', '-p', '-t', 'unsafe', '-f', 'raw', 'disk', '-O', 'raw', 'out']],
    ['qcow2', 'zlib', ['convert', '-p', '-t', 'unsafe', '-f', 'raw', 'disk', '-O', 'qcow2', 'out']],
    ['qcow2-compressed', 'zlib', ['convert', '-p', '-t', 'unsafe', '-f', 'raw', 'disk', '-O', 'qcow2', '-c', 'out']],
    ['qcow2-compressed', 'zstd', ['convert', '-p', '-t', 'unsafe', '-f', 'raw', 'disk', '-O', 'qcow2', '-c', '-o', 'compression_type=zstd', 'out']],
    ['vdi', 'zstd', ['convert', '-p', '-t', 'unsafe', '-f', 'raw', 'disk', '-O', 'vdi', 'out']],
  ] as const)('%s with %s', (format, compression, expected) => {
    expect(qemuImgConvertArgs({ input: 'disk', output: 'out', format, compression })).toEqual(expected);
  });
});

describe('pinned VHD footers', () => {
  const footer = Buffer.alloc(512);
  footer.write('conectix', 0, 'latin1');
  footer.writeUInt32BE(123456, 24);

  it('take the epoch as VHD time, a derived UUID and a valid checksum', () => {
    const pinned = pinVhdFooter(footer, 'seed', VHD_EPOCH + 10);
    expect(pinned.readUInt32BE(24)).toBe(10);
    expect(pinned.subarray(68, 84)).toEqual(derivedUuidBytes('seed:vhd'));
    expect(pinned.readUInt32BE(64)).toBe(vhdChecksum(pinned));
  });

  it('clamp times before 2000 to the VHD epoch', () => {
    expect(pinVhdFooter(footer, 'seed', 1).readUInt32BE(24)).toBe(0);
  });

  it('refuse bytes that are not a footer', () => {
    expect(() => pinVhdFooter(Buffer.alloc(512), 'seed', 1)).toThrow(/conectix/);
  });
});

describe('pinned VDI headers', () => {
  it('replace the image and snapshot UUIDs only', () => {
    const header = Buffer.alloc(512, 0xaa);
    const pinned = pinVdiHeader(header, 'seed');
    expect(pinned.subarray(0x188, 0x198)).toEqual(derivedUuidBytes('seed:vdi-image'));
    expect(pinned.subarray(0x198, 0x1a8)).toEqual(derivedUuidBytes('seed:vdi-snapshot'));
    expect(Buffer.concat([pinned.subarray(0, 0x188), pinned.subarray(0x1a8)])).toEqual(Buffer.concat([header.subarray(0, 0x188), header.subarray(0x1a8)]));
  });
});
