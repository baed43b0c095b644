/** Nix's base-32 alphabet: digits and letters without e, o, u and t. */
const NIX_BASE32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

/**
 * Nix's own base-32 form of a hash (as printed by `nix-hash --base32` and stored in
 * closureInfo registrations). It is not RFC 4648: the bytes are read from the end,
 * least significant bits first.
 */
export function nixBase32(bytes: Uint8Array): string {
  const length = Math.floor((bytes.length * 8 - 1) / 5) + 1;
  let out = '';
  for (let n = length - 1; n >= 0; n--) {
    const bit = n * 5;
    const i = Math.floor(bit / 8);
    const j = bit % 8;
    const high = i + 1 < bytes.length ? bytes[i + 1]! << (8 - j) : 0;
    out += NIX_BASE32_ALPHABET[((bytes[i]! >> j) | high) & 0x1f];
  }
  return out;
}

export function nixBase32FromHex(hex: string): string {
  if (!/^(?:[0-9a-f]{2})+$/i.test(hex)) throw new Error(`nixdisk: not a hexadecimal hash: ${hex}`);
  return nixBase32(Uint8Array.from(Buffer.from(hex, 'hex')));
}
