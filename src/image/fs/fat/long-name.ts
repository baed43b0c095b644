/**
 * VFAT long names: a name in UTF-16, 13 code units per 32-byte entry, stored before its
 * short entry last part first; each part carries the checksum of the short name, so a
 * driver can tell when the short entry was changed by one that knows no long names.
 */

const UNITS_PER_ENTRY = 13;
/** Where an entry's 13 UTF-16 units sit: 5 from byte 1, 6 from byte 14, 2 from byte 28. */
const UNIT_OFFSETS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
const LONG_NAME_ATTRIBUTES = 0x0f;
const LAST_PART = 0x40;
/** The most UTF-16 units a long name may have. */
export const LONGEST_LONG_NAME = 255;

/** The checksum of an entry's 11 short-name bytes (fatgen103: rotate right, add); pure. */
export function shortNameChecksum(shortName: string): number {
  let sum = 0;
  for (let index = 0; index < 11; index++) sum = (((sum & 1) << 7) + (sum >> 1) + shortName.charCodeAt(index)) & 0xff;
  return sum;
}

/** How many 32-byte entries the long name `name` takes. */
export function longNameEntryCount(name: string): number {
  return Math.ceil(name.length / UNITS_PER_ENTRY);
}

/**
 * The long-name entries of `name` in the order they are stored, for the short name whose
 * checksum is `checksum`: the name ends with a 0 unit unless it fills its last entry,
 * and the rest of that entry is 0xFFFF. Pure.
 */
export function longNameEntries(name: string, checksum: number): Buffer {
  if (name.length === 0 || name.length > LONGEST_LONG_NAME) throw new Error(`a long name has 1 to ${LONGEST_LONG_NAME} UTF-16 units: "${name}"`);
  const count = longNameEntryCount(name);
  const units = new Uint16Array(count * UNITS_PER_ENTRY).fill(0xffff);
  for (let index = 0; index < name.length; index++) units[index] = name.charCodeAt(index);
  if (name.length < units.length) units[name.length] = 0;
  const entries = Buffer.alloc(count * 32);
  for (let part = 1; part <= count; part++) {
    const entry = entries.subarray((count - part) * 32, (count - part + 1) * 32);
    entry[0] = part | (part === count ? LAST_PART : 0);
    entry[11] = LONG_NAME_ATTRIBUTES;
    entry[13] = checksum;
    UNIT_OFFSETS.forEach((offset, index) => entry.writeUInt16LE(units[(part - 1) * UNITS_PER_ENTRY + index]!, offset));
  }
  return entries;
}
