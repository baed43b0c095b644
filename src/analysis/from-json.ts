import type { SourceRange } from '../syntax/range.js';
import type { Attr, Value } from './value.js';

/**
 * Converts arguments that Nix evaluated (`builtins.toJSON`) into Values, so the build
 * path runs them through the same defaults and rules as the static checker, each with
 * its Nix type. Besides plain JSON it reads the tagged objects of
 * nixlib/serialize-args.nix (see src/nix/serialized.ts): a derivation becomes the
 * attribute set it is in Nix (`type`, `outPath`, `drvPath`, `outputName` and its
 * passthru), `{ "$path" }` a path, `{ "$string", "$context" }` a string, `{ "$function" }`
 * a function. `{ "$dynamic": "<why>" }` stands for a value nixdisk does not know, the
 * same notation `nixdisk plan --json` prints. Every value gets `range`, usually the
 * call site's.
 */
export function valueFromJson(json: unknown, range: SourceRange): Value {
  if (json === null) return { kind: 'null', range };
  switch (typeof json) {
    case 'string':
      return { kind: 'string', value: json, range };
    case 'boolean':
      return { kind: 'bool', value: json, range };
    case 'number':
      return Number.isInteger(json) ? { kind: 'int', value: json, range } : { kind: 'float', value: json, range };
    case 'object':
      if (Array.isArray(json)) return { kind: 'list', items: json.map((item) => valueFromJson(item, range)), range };
      return objectValue(json as Record<string, unknown>, range);
    default:
      return { kind: 'dynamic', why: `JSON cannot hold a ${typeof json}`, range };
  }
}

function objectValue(json: Record<string, unknown>, range: SourceRange): Value {
  const tag = (name: string) => (typeof json[name] === 'string' ? (json[name] as string) : undefined);
  const dynamic = tag('$dynamic');
  if (dynamic !== undefined) return { kind: 'dynamic', why: dynamic, range };
  const path = tag('$path');
  if (path !== undefined) return { kind: 'path', value: path, range };
  const string = tag('$string');
  if (string !== undefined) return { kind: 'string', value: string, range };
  if (json.$function === true) return { kind: 'lambda', range };
  if (json.$truncated === true) return { kind: 'dynamic', why: 'a set that contains itself', range };
  const drvPath = tag('$drv');
  if (drvPath !== undefined) return derivationValue(drvPath, json, range);
  return { kind: 'attrs', attrs: argumentsFromJson(json, range), range };
}

function derivationValue(drvPath: string, json: Record<string, unknown>, range: SourceRange): Value {
  const passthru = typeof json.$attrs === 'object' && json.$attrs !== null ? (json.$attrs as Record<string, unknown>) : {};
  const attrs = argumentsFromJson(passthru, range);
  const text = (value: unknown): Attr => ({ value: valueFromJson(String(value), range), nameRange: range });
  attrs.set('type', text('derivation'));
  attrs.set('drvPath', text(drvPath));
  attrs.set('outPath', text(json.$out));
  attrs.set('outputName', text(json.$output));
  return { kind: 'attrs', attrs, range };
}

/** The top-level argument object as the attribute map the schema and rules read. */
export function argumentsFromJson(json: Record<string, unknown>, range: SourceRange): Map<string, Attr> {
  return new Map(Object.entries(json).map(([name, item]) => [name, { value: valueFromJson(item, range), nameRange: range }]));
}

/** The inverse for printing: known values as plain JSON, dynamic ones as `{ "$dynamic": why }`. */
export function valueToJson(value: Value): unknown {
  switch (value.kind) {
    case 'string':
    case 'path':
    case 'int':
    case 'float':
    case 'bool':
      return value.value;
    case 'null':
      return null;
    case 'list':
      return value.items.map(valueToJson);
    case 'attrs':
      return Object.fromEntries([...value.attrs].map(([name, attr]) => [name, valueToJson(attr.value)]));
    case 'lambda':
      return { $dynamic: 'a function' };
    case 'dynamic':
      return { $dynamic: value.why };
  }
}
