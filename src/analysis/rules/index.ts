import type { Diagnostic } from '../diagnostic.js';
import { ASSERT_RULES } from './asserts.js';
import { CONTENTS_RULES } from './contents.js';
import { EFFECT_RULES } from './effects.js';
import { LAYOUT_RULES } from './layout.js';
import { missingArgument, newerNixpkgsOnly, unknownArgument } from './names.js';
import type { Rule, RuleContext } from './rule.js';
import { SIZE_RULES } from './sizes.js';
import { wrongType } from './types.js';
import { VALUE_RULES } from './values.js';

export type { Rule, RuleContext } from './rule.js';

/** Every rule, nixpkgs' asserts first in nixpkgs' order. */
export const RULES: readonly Rule[] = [
  ...ASSERT_RULES,
  missingArgument,
  unknownArgument,
  wrongType,
  ...SIZE_RULES,
  ...VALUE_RULES,
  ...CONTENTS_RULES,
  ...LAYOUT_RULES,
  ...EFFECT_RULES,
  newerNixpkgsOnly,
];

export function runRules(ctx: RuleContext): Diagnostic[] {
  return RULES.flatMap((rule) => rule.check(ctx));
}
