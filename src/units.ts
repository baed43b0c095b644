/** Sizes as make-disk-image reads them. */

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const SECTOR = 512;

const IEC_SUFFIXES: Record<string, number> = { '': 1, K: 1, M: 2, G: 3, T: 4, P: 5, E: 6 };

/**
 * Parses a size the way `numfmt --from=iec` does: digits (optionally with a fraction),
 * then an optional single suffix K/M/G/T/P/E meaning powers of 1024. Returns null for
 * anything numfmt rejects, such as "1024MB" or "1Mi". Fractions round up, as numfmt does.
 */
export function parseIecSize(text: string): number | null {
  const match = /^\s*(\d+)(?:\.(\d+))?([KMGTPE]?)\s*$/.exec(text);
  if (!match) return null;
  const [, whole, fraction = '', suffix] = match;
  const scale = 1024 ** IEC_SUFFIXES[suffix!]!;
  const exact = (Number(whole) + (fraction ? Number('0.' + fraction) : 0)) * scale;
  return Math.ceil(exact);
}

/** nixpkgs' `round_to_nearest`: always adds a step, even to an exact multiple (FACTS §5). */
export function roundToNearest(value: number, step: number): number {
  return (Math.floor(value / step) + 1) * step;
}

export function roundUp(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}

/** Human size with binary units, for messages: 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${Number(value.toFixed(1))} ${units[unit]}`;
}
