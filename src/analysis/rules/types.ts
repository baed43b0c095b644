import { ARGUMENTS } from '../schema.js';
import { interpolatedText, isDerivation, type Value } from '../value.js';
import { diagnostic, explicit, type Rule } from './rule.js';

export function describeKind(value: Value): string {
  switch (value.kind) {
    case 'string':
      return `the string ${JSON.stringify(value.value)}`;
    case 'int':
    case 'float':
      return `the number ${value.value}`;
    case 'bool':
      return value.value ? 'true' : 'false';
    case 'null':
      return 'null';
    case 'path':
      return `the path ${value.value}`;
    case 'list':
      return 'a list';
    case 'attrs':
      return isDerivation(value) ? `the derivation ${interpolatedText(value) ?? ''}`.trimEnd() : 'an attribute set';
    case 'lambda':
      return 'a function';
    case 'dynamic':
      return 'a value known only to Nix';
  }
}

/** A known value of a kind the argument cannot take; every other rule skips such values. */
export const wrongType: Rule = {
  code: 'wrong-type',
  summary: 'An argument of the wrong type.',
  check(ctx) {
    const found = [];
    for (const spec of ARGUMENTS) {
      const value = explicit(ctx, spec.name)?.value;
      if (!value || value.kind === 'dynamic' || spec.kinds.includes(value.kind)) continue;
      if (spec.interpolated && interpolatedText(value) !== undefined) continue;
      found.push(diagnostic(this.code, 'error', `${spec.name} must be ${spec.typeText}, not ${describeKind(value)}`, value.range));
    }
    return found;
  },
};
