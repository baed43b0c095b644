import { MiB, parseIecSize } from '../../units.js';
import { diagnostic, known, nixString, quote, replaceValueFix, type Rule } from './rule.js';
import type { Diagnostic } from '../diagnostic.js';
import type { KnownValue } from './rule.js';

/** The arguments read by `numfmt --from=iec`. */
const IEC_SIZE_ARGUMENTS = ['additionalSpace', 'bootSize'] as const;

/** A size written with an SI/IEC unit numfmt does not read ("1024MB", "1GiB", "512m"), and the form it does read. */
export function numfmtSpelling(text: string): string | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpPeE])(?:i?[bB])?\s*$/.exec(text);
  return match ? `${match[1]}${match[2]!.toUpperCase()}` : undefined;
}

function checkIecSize(code: string, name: string, value: KnownValue<'string'>): Diagnostic[] {
  const text = value.value;
  if (/^\s*-/.test(text)) return [diagnostic(code, 'error', `${name} must not be negative (${quote(text)})`, value.range)];
  if (parseIecSize(text) !== null) return [];
  const spelling = numfmtSpelling(text);
  if (spelling !== undefined) {
    return [
      diagnostic(
        code,
        'error',
        `${name} ${quote(text)} is not a size numfmt --from=iec reads: it takes a number with K, M, G, T, P or E (powers of 1024) and no "B"; write ${quote(spelling)}`,
        value.range,
        replaceValueFix(`Write ${quote(spelling)}`, value, nixString(spelling)),
      ),
    ];
  }
  return [diagnostic(code, 'error', `${name} ${quote(text)} is not a size; write a number with an optional K, M, G or T suffix (powers of 1024), e.g. "512M"`, value.range)];
}

export const invalidSize: Rule = {
  code: 'invalid-size',
  summary: 'additionalSpace or bootSize is not a size numfmt --from=iec reads.',
  check(ctx) {
    return IEC_SIZE_ARGUMENTS.flatMap((name) => {
      const value = known(ctx, name, 'string');
      return value ? checkIecSize(this.code, name, value) : [];
    });
  },
};

/** "512" is 512 bytes to numfmt: almost always a forgotten "M". */
export const sizeWithoutUnit: Rule = {
  code: 'size-without-unit',
  summary: 'A size without a unit, which numfmt reads as bytes.',
  check(ctx) {
    return IEC_SIZE_ARGUMENTS.flatMap((name) => {
      const value = known(ctx, name, 'string');
      if (!value || !/^\s*\d+\s*$/.test(value.value) || Number(value.value) === 0) return [];
      const withUnit = `${value.value.trim()}M`;
      return [
        diagnostic(
          this.code,
          'warning',
          `${name} ${quote(value.value)} has no unit, so it means ${value.value.trim()} bytes; did you mean ${quote(withUnit)}?`,
          value.range,
          replaceValueFix(`Write ${quote(withUnit)}`, value, nixString(withUnit)),
        ),
      ];
    });
  },
};

/** diskSize is `"auto"` or a whole number of MiB (nixpkgs runs `truncate -s <diskSize>M`). */
export const invalidDiskSize: Rule = {
  code: 'invalid-disk-size',
  summary: 'diskSize is not "auto" or a positive whole number of MiB.',
  check(ctx) {
    const asInt = known(ctx, 'diskSize', 'int');
    if (asInt) {
      return asInt.value > 0 ? [] : [diagnostic(this.code, 'error', `diskSize must be a positive number of MiB, not ${asInt.value}`, asInt.range)];
    }
    const asString = known(ctx, 'diskSize', 'string');
    if (!asString || asString.value === 'auto') return [];
    if (/^\d+$/.test(asString.value)) {
      return Number(asString.value) > 0 ? [] : [diagnostic(this.code, 'error', 'diskSize must be a positive number of MiB, not 0', asString.range)];
    }
    const bytes = parseIecSize(numfmtSpelling(asString.value) ?? asString.value);
    const mebibytes = bytes !== null && bytes > 0 && bytes % MiB === 0 ? bytes / MiB : undefined;
    const message =
      `diskSize ${quote(asString.value)} is neither "auto" nor a number of MiB (nixpkgs appends "M" itself)` +
      (mebibytes !== undefined ? `; write ${mebibytes}` : '');
    const fix = mebibytes !== undefined ? replaceValueFix(`Write ${mebibytes}`, asString, String(mebibytes)) : undefined;
    return [diagnostic(this.code, 'error', message, asString.range, fix)];
  },
};

/** nixpkgs hands memSize to qemu as `-m <memSize>` and `size=<memSize>M`: only a whole number of MiB starts the VM. */
export const invalidMemSize: Rule = {
  code: 'invalid-mem-size',
  summary: 'memSize is a string that is not a whole number of MiB.',
  check(ctx) {
    const value = known(ctx, 'memSize', 'string');
    if (!value || /^\d+$/.test(value.value)) return [];
    return [
      diagnostic(
        this.code,
        'error',
        `memSize ${quote(value.value)} is not a number of MiB: nixpkgs passes it to qemu (-m ${value.value}), whose build VM would not start; write digits only, e.g. 2048`,
        value.range,
      ),
    ];
  },
};

export const SIZE_RULES: readonly Rule[] = [invalidSize, sizeWithoutUnit, invalidDiskSize, invalidMemSize];
