/**
 * 8.3 short names for the entries of one directory, as Windows and Linux' vfat make them
 * for a long name: upper-cased, characters 8.3 cannot hold replaced by '_', spaces and
 * inner periods dropped, the base cut to 8 and the extension to 3; a name that lost
 * anything on the way gets a numeric tail (`NIXOS-~1.CON`) that makes it unique in its
 * directory. Tails are numbered upwards, without Windows' hashed form after ~4, so the
 * names depend only on the directory's names and their order.
 */

export interface ShortName {
  /** The directory entry's 11 name bytes as text: the base padded to 8, the extension to 3. */
  name: string;
  /** Whether the entry needs VFAT long-name entries: it is not already its own upper-case 8.3 name. */
  needsLongName: boolean;
}

interface Basis {
  base: string;
  extension: string;
  /** The name is exactly its short name. */
  exact: boolean;
  /** Something beyond the letters' case was changed or dropped, so the short name needs a tail. */
  lossy: boolean;
}

/** Besides A–Z and 0–9, what a short name may hold (fatgen103; space left out, as Windows and Linux leave it out). */
const SHORT_NAME_CHARACTER = /^[A-Z0-9!#$%&'()\-@^_`{}~]$/;
const LONGEST_TAIL_NUMBER = 999_999;

function basisOf(name: string): Basis {
  let lossy = false;
  const convert = (part: string): string => {
    let converted = '';
    for (const character of part) {
      if (character === ' ' || character === '.') {
        lossy = true;
        continue;
      }
      const upper = character >= 'a' && character <= 'z' ? character.toUpperCase() : character;
      if (SHORT_NAME_CHARACTER.test(upper)) {
        converted += upper;
      } else {
        converted += '_';
        lossy = true;
      }
    }
    return converted;
  };
  const withoutLeadingPeriods = name.replace(/^\.+/, '');
  if (withoutLeadingPeriods !== name) lossy = true;
  const dot = withoutLeadingPeriods.lastIndexOf('.');
  let base = convert(dot < 0 ? withoutLeadingPeriods : withoutLeadingPeriods.slice(0, dot));
  let extension = dot < 0 ? '' : convert(withoutLeadingPeriods.slice(dot + 1));
  if (base.length > 8 || extension.length > 3 || base === '') lossy = true;
  base = base.slice(0, 8) || '_';
  extension = extension.slice(0, 3);
  return { base, extension, lossy, exact: !lossy && name === (extension ? `${base}.${extension}` : base) };
}

const entryName = (base: string, extension: string) => base.padEnd(8) + extension.padEnd(3);

/**
 * The short name of each of `names` (the entries of one directory, case-insensitively
 * distinct), unique among them. Names that are their own short name, or differ from it
 * only in case, keep it; the others take the lowest free tail. Pure.
 */
export function shortNames(names: readonly string[]): ShortName[] {
  const bases = names.map(basisOf);
  const taken = new Set<string>();
  const chosen: (string | null)[] = bases.map(({ base, extension, lossy }) => {
    const candidate = entryName(base, extension);
    if (lossy || taken.has(candidate)) return null;
    taken.add(candidate);
    return candidate;
  });
  // Where the tail search for a base and extension left off, so a thousand similar names cost no quadratic search.
  const nextTail = new Map<string, number>();
  return bases.map(({ base, extension, exact }, index) => {
    let name = chosen[index];
    if (name === null) {
      const key = `${base}.${extension}`;
      for (let number = nextTail.get(key) ?? 1; name === null; number++) {
        if (number > LONGEST_TAIL_NUMBER) throw new Error(`no free 8.3 name left for ${names[index]}`);
        const tail = `~${number}`;
        const candidate = entryName(base.slice(0, 8 - tail.length) + tail, extension);
        if (taken.has(candidate)) continue;
        taken.add(candidate);
        nextTail.set(key, number + 1);
        name = candidate;
      }
    }
    return { name, needsLongName: !exact || name !== chosen[index] };
  });
}
