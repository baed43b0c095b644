/**
 * GUIDs as GPT stores them, and as sgdisk (gptfdisk) reads them from the command line.
 *
 * On disk a GUID is "mixed-endian": the first three dash-separated fields are stored
 * little-endian, the last two byte-for-byte.
 */

const CANONICAL_GUID = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

/** The on-disk position of each byte of the canonical string, in the order the hex digits appear. */
const TEXT_ORDER_TO_DISK_INDEX = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15] as const;

export class GuidError extends Error {
  override name = 'GuidError';
}

export function isCanonicalGuid(text: string): boolean {
  return CANONICAL_GUID.test(text);
}

/** Upper-case canonical form of a well-formed GUID; throws for anything else. */
export function canonicalGuid(text: string): string {
  if (!isCanonicalGuid(text)) {
    throw new GuidError(`"${text}" is not a GUID: expected 8-4-4-4-12 hex digits, e.g. F222513B-DED1-49FA-B591-20CE86A2FE7F`);
  }
  return text.toUpperCase();
}

/** The 16 bytes GPT stores for a canonical GUID string. */
export function guidToBytes(text: string): Buffer {
  const hex = canonicalGuid(text).replaceAll('-', '');
  const bytes = Buffer.alloc(16);
  TEXT_ORDER_TO_DISK_INDEX.forEach((diskIndex, textIndex) => {
    bytes[diskIndex] = parseInt(hex.slice(textIndex * 2, textIndex * 2 + 2), 16);
  });
  return bytes;
}

/** The canonical (upper-case) string for 16 on-disk GUID bytes. */
export function guidFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new GuidError(`a GUID has 16 bytes, got ${bytes.length}`);
  const hex = TEXT_ORDER_TO_DISK_INDEX.map((diskIndex) => bytes[diskIndex]!.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toUpperCase();
}

/**
 * The GUID sgdisk stores for `--disk-guid=TEXT` / `--partition-guid=N:TEXT`.
 *
 * gptfdisk does not validate: after dropping spaces and braces it reads two-character
 * hex fields at fixed offsets: those of the dashed form when the text has at least 36
 * characters, those of the undashed form otherwise, and leaves fields past the end zero.
 * Each field goes through C `sscanf("%x")`, so a dash that falls inside a field becomes
 * a minus sign ("-D" is 0xF3 after truncation to a byte). nixpkgs passes the 35-character
 * literal 97FD5997-D90B-4AA3-8D16-C1723AEA73C, which therefore lands on disk as
 * 97FD5997-F390-0B4A-A3F8-D106C1723AEA. We compute that instead of hard-coding it so
 * that any rootGPUID a user passes gets the same treatment.
 */
export function parseGuidAsSgdisk(text: string): string {
  if (text.startsWith('R') || text.startsWith('r')) {
    throw new GuidError(`sgdisk reads a GUID starting with "R" as "random": "${text}" gives no fixed GUID`);
  }
  const compact = text.replace(/[ {}]/g, '');
  // Start offsets of the five fields and the length needed to read all of each.
  const dashed = { starts: [0, 9, 14, 19, 24], ends: [9, 14, 19, 24, 36] };
  const undashed = { starts: [0, 8, 12, 16, 20], ends: [8, 12, 16, 20, 32] };
  const layout = compact.length >= 36 ? dashed : undashed;
  // Which on-disk byte each two-character pair of a field fills, field by field.
  const fieldTargets = [[3, 2, 1, 0], [5, 4], [7, 6], [8, 9], [10, 11, 12, 13, 14, 15]];
  const bytes = Buffer.alloc(16);
  fieldTargets.forEach((targets, field) => {
    if (compact.length < layout.ends[field]!) return;
    targets.forEach((diskIndex, pair) => {
      const position = layout.starts[field]! + pair * 2;
      bytes[diskIndex] = scanHexByte(compact.slice(position, position + 2), text, position);
    });
  });
  return guidFromBytes(bytes);
}

/**
 * `sscanf(pair, "%x")` truncated to a byte, as gptfdisk's StrToHex does: optional leading
 * white space, an optional sign, an optional 0x prefix, then hex digits. A pair with no
 * digit leaves gptfdisk's variable uninitialised, so no byte can be predicted: that is an error.
 */
function scanHexByte(pair: string, whole: string, position: number): number {
  if (pair.length < 2) return 0;
  const match = /^[\t\n\v\f\r ]*([+-]?)(?:0[xX])?([0-9A-Fa-f]*)/.exec(pair)!;
  const [, sign, digits] = match;
  if (digits === '') {
    // "0x" alone is read as the number 0 by glibc (the prefix's 0 is a digit).
    if (/^[\t\n\v\f\r ]*[+-]?0[xX]$/.test(pair)) return 0;
    throw new GuidError(
      `sgdisk cannot read "${pair}" at position ${position} of GUID "${whole}" as hex; the byte it stores there is undefined`,
    );
  }
  const value = parseInt(digits!, 16);
  return (sign === '-' ? -value : value) & 0xff;
}
