import type { SourceRange } from '../syntax/range.js';
import type { Attr, Value } from './value.js';

/**
 * Converts arguments that Nix evaluated (`builtins.toJSON`) into Values, so the build
 * path runs them through the same defaults and rules as the static checker. Every
 * value gets `range`, usually the call site's. An object `{ "$dynamic": "<why>" }`
 * stands for a value JSON cannot carry (a function, the package set), the same
 * notation `nixdisk plan --json` prints.
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
  const keys = Object.keys(json);
  if (keys.length === 1 && keys[0] === '$dynamic' && typeof json.$dynamic === 'string') {
    return { kind: 'dynamic', why: json.$dynamic, range };
  }
  return { kind: 'attrs', attrs: argumentsFromJson(json, range), range };
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
