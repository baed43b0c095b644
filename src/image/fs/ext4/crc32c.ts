/**
 * CRC-32C (Castagnoli) as ext4's metadata_csum uses it: the raw register update with no
 * inversion on the way in or out, so checksums chain (`crc32c(crc32c(seed, a), b)`).
 * The usual CRC-32C of a message is `~crc32c(~0, message)`. Metadata is a few MB per
 * image, so a byte-wise table is fast enough and keeps the build free of native code.
 */
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    table[byte] = crc >>> 0;
  }
  return table;
})();

export function crc32c(seed: number, bytes: Uint8Array): number {
  let crc = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

/** The checksum of a little-endian 32-bit number, which ext4 mixes in for inode and group numbers. */
export function crc32cOfU32(seed: number, value: number): number {
  let crc = seed >>> 0;
  for (let shift = 0; shift < 32; shift += 8) crc = TABLE[(crc ^ (value >>> shift)) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}
