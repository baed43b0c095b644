import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { nixBase32, nixBase32FromHex } from '../../src/nix/base32.js';

describe('nixBase32', () => {
  // Expected values printed by `nix-hash --type sha256 --to-base32 <hex>` (Nix 2.8).
  it.each([
    ['0b91301cf4d12dd47ae64543502d0d8d9bbf5b43a9910df5973859d33d71c04c', '0k60f4yx6n9qjzshv4d98ddvz6wd1lnm0hs5wrxd8bfiyhf3148b'],
    ['0000000000000000000000000000000000000000000000000000000000000000', '0000000000000000000000000000000000000000000000000000'],
  ])('encodes %s like nix-hash', (hex, expected) => {
    expect(nixBase32FromHex(hex)).toBe(expected);
  });

  it.each([
    ['sha256', 'ff'.repeat(32)],
    ['sha256', '0123456789abcdef'.repeat(4)],
    ['sha1', 'a5'.repeat(20)],
    ['md5', '01'.repeat(16)],
  ])('agrees with nix-hash --to-base32 on a %s digest', (type, hex) => {
    const byNix = execFileSync('nix-hash', ['--type', type, '--to-base32', hex]).toString().trim();
    expect(nixBase32FromHex(hex)).toBe(byNix);
  });

  it('gives 52 characters for a sha256 digest', () => {
    expect(nixBase32(new Uint8Array(32).fill(7))).toHaveLength(52);
  });

  it('rejects text that is not hexadecimal', () => {
    expect(() => nixBase32FromHex('xyz')).toThrow(/not a hexadecimal hash/);
  });
});
