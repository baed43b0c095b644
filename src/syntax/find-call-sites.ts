import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type ParserType from 'tree-sitter';
import { PACKAGE_ROOT } from '../package.js';
import { nixParser, type SyntaxNode, type Tree } from './parser.js';
import type { CallSiteNode } from './callsite.js';
import { childrenInField, consumerOf, identifiersNamed, inTreeOrder, lexicalDefinition, rangeOf, unparenthesize } from './nodes.js';

const TARGET_FILE = 'make-disk-image.nix';

/** How far a loaded function may be passed along through bindings (`a = import …; b = a; b { … }`). */
const MAX_BINDING_HOPS = 8;

let callSiteQuery: ParserType.Query | undefined;

function loadQuery(): ParserType.Query {
  if (callSiteQuery) return callSiteQuery;
  const Parser = createRequire(import.meta.url)('tree-sitter') as typeof ParserType;
  const source = readFileSync(path.join(PACKAGE_ROOT, 'grammar', 'queries', 'call-sites.scm'), 'utf8');
  callSiteQuery = new Parser.Query(nixParser().getLanguage(), source);
  return callSiteQuery;
}

/**
 * Every application of nixpkgs' make-disk-image function in the file, in source
 * order: `import …/make-disk-image.nix { … }`, `callPackage … { … }`, and the same
 * loaded function reached through let, rec or attrset bindings. Works on trees with
 * syntax errors too, as far as the error-tolerant tree keeps the call's shape.
 */
export function findCallSites(tree: Tree): CallSiteNode[] {
  const sites = new Map<string, CallSiteNode>();
  const matches = loaderApplications(tree.rootNode).flatMap((application) => loadQuery().matches(application, { maxStartDepth: 0 }));
  for (const match of matches) {
    const load = match.captures.find((c) => c.name === 'load')?.node;
    const target = match.captures.find((c) => c.name === 'target')?.node;
    if (!load || !target || !loadsMakeDiskImage(target, 0)) continue;
    const loader = load.childForFieldName('function')?.text ?? '';
    for (const site of applicationsOf(load, `${compact(loader)} ${describeTarget(target)}`, tree.rootNode, 0)) {
      sites.set(`${site.argument.startIndex}:${site.argument.endIndex}`, site);
    }
  }
  return [...sites.values()].sort(
    (a, b) => a.range.start.line - b.range.start.line || a.range.start.column - b.range.start.column,
  );
}

/** The names the query's loaders are spelled with. */
const LOADER_NAMES = ['import', 'callPackage', 'scopedImport'];
/** How far above its loader's name a query pattern's application is (`builtins.scopedImport s X`: identifier, attrpath, select, apply, apply). */
const LOADER_DEPTH = 4;

/**
 * The applications the query's patterns could match: those just above an identifier
 * spelled like a loader. Running the query on each of them alone, rather than on the
 * whole file, keeps the cost with the few loaders instead of the file's size.
 */
function loaderApplications(root: SyntaxNode): SyntaxNode[] {
  const applications: SyntaxNode[] = [];
  for (const identifier of LOADER_NAMES.flatMap((name) => identifiersNamed(root, name))) {
    let node = identifier.parent;
    for (let depth = 1; node && depth <= LOADER_DEPTH; depth++, node = node.parent) {
      if (node.type === 'apply_expression') applications.push(node);
    }
  }
  return inTreeOrder(applications);
}

/** Whether a loader's file expression names make-disk-image.nix: a path, a string, `x + "/…"`, or a name bound to one. */
function loadsMakeDiskImage(target: SyntaxNode, hops: number): boolean {
  const node = unparenthesize(target);
  switch (node.type) {
    case 'path_expression':
    case 'hpath_expression':
    case 'string_expression':
    case 'indented_string_expression': {
      const last = node.lastNamedChild;
      return !!last && (last.type === 'path_fragment' || last.type === 'string_fragment') && endsWithTarget(last.text);
    }
    case 'spath_expression':
      return node.text.endsWith(`${TARGET_FILE}>`);
    case 'binary_expression': {
      const right = node.childForFieldName('right');
      return node.childForFieldName('operator')?.type === '+' && !!right && loadsMakeDiskImage(right, hops);
    }
    case 'variable_expression': {
      const name = node.childForFieldName('name')?.text;
      if (!name || hops >= MAX_BINDING_HOPS) return false;
      const definition = lexicalDefinition(name, node);
      return definition !== undefined && definition !== 'argument' && loadsMakeDiskImage(definition, hops + 1);
    }
    default:
      return false;
  }
}

/** The file expression as written; a name also shows what it is bound to. */
function describeTarget(target: SyntaxNode): string {
  const node = unparenthesize(target);
  if (node.type !== 'variable_expression') return compact(target.text);
  const definition = lexicalDefinition(node.text, node);
  return definition && definition !== 'argument' ? `${node.text}, bound to ${compact(definition.text)}` : node.text;
}

function endsWithTarget(text: string): boolean {
  return text === TARGET_FILE || text.endsWith(`/${TARGET_FILE}`);
}

/** The applications that pass an argument to the function `fn` evaluates to. */
function applicationsOf(fn: SyntaxNode, form: string, root: SyntaxNode, hops: number): CallSiteNode[] {
  const { consumer, operand } = consumerOf(fn);
  if (!consumer) return [];
  if (consumer.type === 'apply_expression' && sameNode(consumer.childForFieldName('function'), operand)) {
    const argument = consumer.childForFieldName('argument');
    return argument ? [{ range: rangeOf(consumer), form, argument }] : [];
  }
  const recovered = recoveredArgument(operand);
  if (recovered) {
    const end = recovered.type === 'ERROR' ? recovered : (recovered.parent ?? recovered);
    return [{ range: { start: rangeOf(operand).start, end: rangeOf(end).end }, form, argument: recovered }];
  }
  if (consumer.type === 'binding' && hops < MAX_BINDING_HOPS) return usesOfBinding(consumer, operand, form, root, hops);
  return [];
}

/**
 * In a broken file tree-sitter may leave `f { a = 1;` as `f` followed by an ERROR
 * that starts with `{` (or by a bare `{` inside an enclosing ERROR). The evaluator
 * reads the bindings that follow that brace.
 */
function recoveredArgument(operand: SyntaxNode): SyntaxNode | undefined {
  const next = operand.nextSibling;
  if (!next) return undefined;
  if (next.type === 'ERROR' && next.firstChild?.type === '{') return next;
  if (next.type === '{' && operand.parent?.type === 'ERROR') return next;
  return undefined;
}

/** Follows `name = <fn>;` to the places that apply `name`: lexically for let/rec, by `x.name` for attributes. */
function usesOfBinding(binding: SyntaxNode, value: SyntaxNode, form: string, root: SyntaxNode, hops: number): CallSiteNode[] {
  const attrs = childrenInField(binding.childForFieldName('attrpath'), 'attr');
  const last = attrs[attrs.length - 1];
  if (!last || last.type !== 'identifier') return [];
  const name = last.text;
  const scope = binding.parent?.parent;
  const boundForm = `${name}, bound to ${form}`;
  const sites: CallSiteNode[] = [];
  const lexical = attrs.length === 1 && !!scope && /^(let_expression|rec_attrset_expression|let_attrset_expression)$/.test(scope.type);
  const searched = lexical && scope.type === 'let_expression' ? scope : root;
  // Only a name or a selection spelled `name` can apply the binding.
  const uses = inTreeOrder(identifiersNamed(searched, name).flatMap((identifier) => useOf(identifier) ?? []));
  for (const node of uses) {
    if (lexical && node.type === 'variable_expression') {
      const definition = lexicalDefinition(name, node);
      if (definition !== undefined && definition !== 'argument' && sameNode(definition, value)) {
        sites.push(...applicationsOf(node, boundForm, root, hops + 1));
      }
    } else if (scope?.type !== 'let_expression' && node.type === 'select_expression' && selectsAttribute(node, name)) {
      sites.push(...applicationsOf(node, boundForm, root, hops + 1));
    }
  }
  return sites;
}

/** The name or selection an identifier is the (last) part of, if it is one. */
function useOf(identifier: SyntaxNode): SyntaxNode | undefined {
  const parent = identifier.parent;
  if (parent?.type === 'variable_expression') return parent;
  const select = parent?.type === 'attrpath' ? parent.parent : null;
  return select?.type === 'select_expression' ? select : undefined;
}

function selectsAttribute(select: SyntaxNode, name: string): boolean {
  const attrs = childrenInField(select.childForFieldName('attrpath'), 'attr');
  const last = attrs[attrs.length - 1];
  return !!last && last.type === 'identifier' && last.text === name && !select.childForFieldName('default');
}

function sameNode(a: SyntaxNode | null, b: SyntaxNode): boolean {
  return !!a && a.startIndex === b.startIndex && a.endIndex === b.endIndex && a.type === b.type;
}

/** Source text on one line, short enough for a message. */
function compact(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}…` : oneLine;
}
