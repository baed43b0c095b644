import path from 'node:path/posix';
import type { Diagnostic } from '../diagnostic.js';
import { interpolatedText, type Attr, type Value } from '../value.js';
import { didYouMean } from './names.js';
import { describeKind } from './types.js';
import { diagnostic, known, nixString, quote, type Rule, type RuleContext } from './rule.js';

/**
 * The entries of `contents` (FACTS §6.4). nixpkgs reads `source` and `target` and,
 * optionally, `mode`, `user` and `group`; it joins them with spaces into bash arrays.
 */

const ENTRY_KEYS = ['source', 'target', 'mode', 'user', 'group'];
const OPTIONAL_STRING_KEYS = ['mode', 'user', 'group'];

function entries(ctx: RuleContext): { entry: Extract<Value, { kind: 'attrs' }>; index: number }[] {
  const contents = known(ctx, 'contents', 'list');
  if (!contents) return [];
  return contents.items.flatMap((entry, index) => (entry.kind === 'attrs' ? [{ entry, index }] : []));
}

function stringOf(attr: Attr | undefined): string | undefined {
  return attr ? interpolatedText(attr.value) : undefined;
}

export const malformedContentsEntry: Rule = {
  code: 'invalid-contents-entry',
  summary: 'A contents entry that is not an attrset with a source and a target, or has fields of the wrong type.',
  check(ctx) {
    const contents = known(ctx, 'contents', 'list');
    if (!contents) return [];
    const found: Diagnostic[] = [];
    for (const item of contents.items) {
      if (item.kind === 'dynamic') continue;
      if (item.kind !== 'attrs') {
        found.push(diagnostic(this.code, 'error', `Each contents entry is an attribute set { source, target, … }, not ${describeKind(item)}`, item.range));
        continue;
      }
      for (const key of ['source', 'target']) {
        const attr = item.attrs.get(key);
        if (!attr) {
          found.push(diagnostic(this.code, 'error', `This contents entry has no ${key}`, item.range));
        } else if (attr.value.kind !== 'dynamic' && interpolatedText(attr.value) === undefined) {
          found.push(diagnostic(this.code, 'error', `${key} must be a path or string, not ${describeKind(attr.value)}`, attr.value.range));
        }
      }
      for (const key of OPTIONAL_STRING_KEYS) {
        const value = item.attrs.get(key)?.value;
        if (value && !['string', 'null', 'dynamic'].includes(value.kind)) {
          const hint = key === 'mode' && value.kind === 'int' ? ` (write it as a string, e.g. "${value.value}")` : '';
          found.push(diagnostic(this.code, 'error', `${key} must be a string, not ${describeKind(value)}${hint}`, value.range));
        }
      }
    }
    return found;
  },
};

export const unknownContentsKey: Rule = {
  code: 'contents-unknown-key',
  summary: 'A contents entry key nixpkgs ignores.',
  check(ctx) {
    return entries(ctx).flatMap(({ entry }) =>
      [...entry.attrs].flatMap(([key, attr]) => {
        if (ENTRY_KEYS.includes(key)) return [];
        const suggestion = didYouMean(key, ENTRY_KEYS.filter((candidate) => !entry.attrs.has(candidate)));
        const message = `nixpkgs ignores ${quote(key)} in a contents entry (it reads source, target, mode, user, group)` + (suggestion ? `; did you mean ${suggestion}?` : '');
        const fix = suggestion ? { description: `Rename to ${suggestion}`, range: attr.nameRange, replacement: suggestion } : undefined;
        return [diagnostic(this.code, 'warning', message, attr.nameRange, fix)];
      }),
    );
  },
};

/** rsync --chmod takes the octal form; nixdisk applies modes itself and reads only octal. */
export const invalidContentsMode: Rule = {
  code: 'contents-invalid-mode',
  summary: 'A contents mode that is not octal.',
  check(ctx) {
    return entries(ctx).flatMap(({ entry }) => {
      const mode = entry.attrs.get('mode')?.value;
      if (mode?.kind !== 'string' || /^[0-7]{3,4}$/.test(mode.value)) return [];
      return [diagnostic(this.code, 'error', `mode ${quote(mode.value)} is not an octal mode like "755" or "0644"`, mode.range)];
    });
  },
};

export const contentsTarget: Rule = {
  code: 'contents-target',
  summary: 'A contents target that is relative or leaves the image root.',
  check(ctx) {
    return entries(ctx).flatMap(({ entry }) => {
      const target = entry.attrs.get('target')?.value;
      if (target?.kind !== 'string') return [];
      const absolute = target.value.startsWith('/') ? target.value : `/${target.value}`;
      const escapes = absolute.split('/').reduce((depth, part) => (depth < 0 ? depth : part === '..' ? depth - 1 : part === '' || part === '.' ? depth : depth + 1), 0) < 0;
      if (escapes) {
        return [diagnostic(this.code, 'error', `target ${quote(target.value)} leaves the image root through ".."`, target.range)];
      }
      if (target.value === '' || path.normalize(absolute) === '/') {
        return [diagnostic(this.code, 'error', 'target must name a path below the image root, not the root itself', target.range)];
      }
      if (!target.value.startsWith('/')) {
        return [
          diagnostic(this.code, 'warning', `target ${quote(target.value)} is relative; it is placed under the image root, so write ${quote(absolute)}`, target.range, {
            description: `Write ${quote(absolute)}`,
            range: target.range,
            replacement: nixString(absolute),
          }),
        ];
      }
      return [];
    });
  },
};

/** nixpkgs fails the build with "duplicate entry" when a target already exists. */
export const duplicateContentsTarget: Rule = {
  code: 'contents-duplicate-target',
  summary: 'Two contents entries with the same target.',
  check(ctx) {
    const seen = new Map<string, number>();
    const found: Diagnostic[] = [];
    for (const { entry, index } of entries(ctx)) {
      const target = entry.attrs.get('target')?.value;
      const source = stringOf(entry.attrs.get('source'));
      // Glob sources copy into their target directory; sharing it is fine.
      if (target?.kind !== 'string' || source === undefined || source.includes('*')) continue;
      const key = path.normalize('/' + target.value).replace(/\/$/, '');
      const first = seen.get(key);
      if (first !== undefined) {
        found.push(diagnostic(this.code, 'error', `target ${quote(target.value)} is already used by contents entry ${first + 1}; nixpkgs stops with "duplicate entry"`, target.range));
      } else {
        seen.set(key, index);
      }
    }
    return found;
  },
};

/** nixpkgs splits sources and targets on whitespace (bash arrays built by joining with spaces). */
export const contentsWhitespace: Rule = {
  code: 'contents-whitespace',
  summary: 'A contents source or target containing whitespace, which nixpkgs splits.',
  check(ctx) {
    return entries(ctx).flatMap(({ entry }) =>
      ['source', 'target'].flatMap((key) => {
        const attr = entry.attrs.get(key);
        const text = stringOf(attr);
        if (text === undefined || !/\s/.test(text)) return [];
        return [diagnostic(this.code, 'warning', `${key} ${quote(text)} contains whitespace; nixpkgs splits it into several entries and the build goes wrong`, attr!.value.range)];
      }),
    );
  },
};

export const CONTENTS_RULES: readonly Rule[] = [malformedContentsEntry, unknownContentsKey, invalidContentsMode, contentsTarget, duplicateContentsTarget, contentsWhitespace];
