import { distance } from 'fastest-levenshtein';
import { ARGUMENTS, ARGUMENT_NAMES, argumentSpec } from '../schema.js';
import { diagnostic, explicit, knownString, type Rule } from './rule.js';

/** The closest name in `candidates` that is plausibly a typo of `name`, if any. */
export function didYouMean(name: string, candidates: readonly string[]): string | undefined {
  const caseInsensitive = candidates.find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  if (caseInsensitive) return caseInsensitive;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** make-disk-image's header has no `...`: Nix rejects any other name. */
export const unknownArgument: Rule = {
  code: 'unknown-argument',
  summary: 'An argument make-disk-image does not take.',
  check(ctx) {
    const found = [];
    for (const [name, attr] of ctx.given) {
      if (argumentSpec(name)) continue;
      const suggestion = didYouMean(name, ARGUMENT_NAMES.filter((candidate) => !ctx.given.has(candidate)));
      const message = `make-disk-image has no argument ${JSON.stringify(name)}` + (suggestion ? `; did you mean ${suggestion}?` : '');
      const fix = suggestion ? { description: `Rename to ${suggestion}`, range: attr.nameRange, replacement: suggestion } : undefined;
      found.push(diagnostic(this.code, 'error', message, attr.nameRange, fix));
    }
    return found;
  },
};

export const missingArgument: Rule = {
  code: 'missing-argument',
  summary: 'A required argument (pkgs, lib, config) is not given.',
  check(ctx) {
    return ARGUMENTS.filter((spec) => spec.required && !ctx.args.has(spec.name) && !ctx.suppliedByCaller.has(spec.name)).map((spec) =>
      diagnostic(this.code, 'error', `make-disk-image needs the argument ${spec.name} (${spec.typeText})`, ctx.callRange),
    );
  },
};

/** Arguments and values that only nixpkgs from late 2024 on understands. */
export const newerNixpkgsOnly: Rule = {
  code: 'needs-newer-nixpkgs',
  summary: 'An argument or value that older nixpkgs rejects.',
  check(ctx) {
    const found = [];
    for (const spec of ARGUMENTS) {
      const given = spec.newerOnly ? explicit(ctx, spec.name) : undefined;
      if (given && given.nameRange) {
        found.push(diagnostic(this.code, 'info', `${spec.name} needs nixpkgs from late 2024 on: ${spec.versions ?? ''}`.trim(), given.nameRange));
      }
    }
    if (knownString(ctx, 'partitionTableType') === 'legacy+boot') {
      found.push(
        diagnostic(this.code, 'info', 'partitionTableType "legacy+boot" needs nixpkgs from late 2024 on; older versions reject it', ctx.args.get('partitionTableType')!.value.range),
      );
    }
    return found;
  },
};
