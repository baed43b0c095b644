import path from 'node:path';
import type { SyntaxNode } from '../syntax/parser.js';
import type { SourceRange } from '../syntax/range.js';
import { childrenInField, lazyRangeOf as rangeOf } from '../syntax/nodes.js';
import type { Attr, Value } from './value.js';
import { lookup, Thunk, type LazyAttr, type LazyValue, type Scope } from './scope.js';

/** Nesting (syntax plus value structure) beyond which evaluation stops instead of risking the stack. */
const MAX_DEPTH = 600;
/** Expressions evaluated per call: a bound on files built to blow up (`a1 = a0 ++ a0; a2 = a1 ++ a1; …`). */
const MAX_STEPS = 200_000;
const MAX_LIST_LENGTH = 100_000;
const MAX_STRING_LENGTH = 1 << 20;

const NIX_ONLY = 'known only when Nix evaluates the file';

/** Functions of nixpkgs' module system that only set a priority: statically, their value is their argument. */
const PRIORITY_WRAPPERS = new Set(['mkForce', 'mkDefault', 'mkImageMediaOverride', 'mkVMOverride', 'mkOptionDefault']);

/** Names Nix defines globally besides `true`, `false` and `null`. */
const GLOBAL_BUILTINS = new Set([
  'abort', 'baseNameOf', 'builtins', 'derivation', 'dirOf', 'fetchGit', 'fetchMercurial', 'fetchTarball',
  'fetchTree', 'fromTOML', 'import', 'isNull', 'map', 'placeholder', 'removeAttrs', 'scopedImport', 'throw',
  'toString',
]);

/**
 * Evaluates the expression `node` as far as it can be known without running Nix.
 * Free names are resolved through the lexical scopes around `node` in its file
 * (let, rec, function parameters, with). Anything unknowable, and anything Nix
 * would reject, becomes `dynamic` with the reason and the range responsible.
 * Never throws on any input, never runs a process. `file` is the absolute path of
 * the source, against which relative path literals resolve.
 */
export function evaluate(node: SyntaxNode, file: string): Value {
  const evaluator = new Evaluator(path.resolve(file), node);
  return evaluator.toValue(evaluator.eval(node, evaluator.scopeAround(node)));
}

function dynamic(why: string, range: SourceRange): LazyValue {
  return { kind: 'dynamic', why, range };
}

/** Source text on one line, short enough to quote in a message. */
function quote(node: SyntaxNode): string {
  const oneLine = node.text.replace(/\s+/g, ' ').trim();
  return '`' + (oneLine.length > 40 ? `${oneLine.slice(0, 37)}…` : oneLine) + '`';
}

const TYPE_NAMES: Record<LazyValue['kind'], string> = {
  string: 'a string', int: 'an integer', float: 'a float', bool: 'a Boolean', null: 'null', path: 'a path',
  list: 'a list', attrs: 'an attribute set', lambda: 'a function', builtin: 'a built-in function', dynamic: 'unknown',
};

class Evaluator {
  private depth = 0;
  private steps = 0;
  private readonly converted = new Map<LazyValue, Value>();
  private readonly converting = new Set<LazyValue>();

  /** MISSING nodes only exist in trees with errors; asking every node costs a native call. */
  private readonly treeHasErrors: boolean;

  constructor(private readonly file: string, node: SyntaxNode) {
    this.treeHasErrors = node.tree.rootNode.hasError;
  }

  /** The environment that `node` sees: every let, rec, function and with that encloses it. */
  scopeAround(node: SyntaxNode): Scope | undefined {
    const enclosing: { scope: SyntaxNode; via: SyntaxNode }[] = [];
    for (let via = node, scope = node.parent; scope; via = scope, scope = scope.parent) enclosing.push({ scope, via });
    let env: Scope | undefined;
    for (const { scope, via } of enclosing.reverse()) {
      switch (scope.type) {
        case 'let_expression':
          env = this.bindingScope(bindingsIn(scope), env).scope;
          break;
        case 'rec_attrset_expression':
        case 'let_attrset_expression':
          if (via.type === 'binding_set') env = this.bindingScope(bindingsIn(scope), env).scope;
          break;
        case 'function_expression':
          env = this.argumentScope(scope.childForFieldName('formals'), scope.childForFieldName('universal'), env);
          break;
        case 'ERROR':
          env = this.recoveredScope(scope, via, env);
          break;
        case 'with_expression':
          if (via.startIndex === scope.childForFieldName('body')?.startIndex) env = this.withScope(scope, env);
          break;
      }
    }
    return env;
  }

  /**
   * In a broken file the enclosing function and let may be flattened into an ERROR
   * node: `formals :` and `let bindings in` before the node still bind names for it.
   */
  private recoveredScope(error: SyntaxNode, via: SyntaxNode, env: Scope | undefined): Scope | undefined {
    for (let child = error.firstChild; child && child.startIndex < via.startIndex; child = child.nextSibling) {
      if (child.type === 'formals' && child.nextSibling?.type === ':') {
        env = this.argumentScope(child, null, env);
      } else if (child.type === 'binding_set' && child.previousSibling?.type === 'let') {
        env = this.bindingScope(childrenInField(child, 'binding'), env).scope;
      }
    }
    return env;
  }

  eval(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    if (++this.steps > MAX_STEPS) return dynamic('too much work to evaluate statically', rangeOf(node));
    if (this.depth >= MAX_DEPTH) return dynamic('too deeply nested to evaluate statically', rangeOf(node));
    this.depth++;
    try {
      return this.evalNode(node, scope);
    } finally {
      this.depth--;
    }
  }

  /** The public, fully expanded value: every thunk forced, cycles and excess depth cut off as dynamic. */
  toValue(value: LazyValue): Value {
    const done = this.converted.get(value);
    if (done) return done;
    if (this.converting.has(value)) return { kind: 'dynamic', why: 'contains itself (infinite recursion)', range: value.range };
    if (this.depth >= MAX_DEPTH) return { kind: 'dynamic', why: 'too deeply nested to evaluate statically', range: value.range };
    this.depth++;
    this.converting.add(value);
    try {
      const result = this.expand(value);
      this.converted.set(value, result);
      return result;
    } finally {
      this.converting.delete(value);
      this.depth--;
    }
  }

  private expand(value: LazyValue): Value {
    switch (value.kind) {
      case 'list':
        return { kind: 'list', items: value.items.map((item) => this.toValue(item.force())), range: value.range };
      case 'attrs': {
        const attrs = new Map<string, Attr>();
        for (const [name, attr] of value.attrs) attrs.set(name, { value: this.toValue(attr.thunk.force()), nameRange: attr.nameRange });
        return { kind: 'attrs', attrs, range: value.range };
      }
      case 'builtin':
        return value.name === 'builtins'
          ? { kind: 'dynamic', why: '`builtins` is Nix\'s own set of primitives', range: value.range }
          : { kind: 'lambda', range: value.range };
      default:
        return value;
    }
  }

  private evalNode(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    const range = rangeOf(node);
    if (this.treeHasErrors && node.isMissing) return dynamic('missing (syntax error)', range);
    switch (node.type) {
      case 'integer_expression': {
        const value = Number(node.text);
        return Number.isSafeInteger(value) ? { kind: 'int', value, range } : dynamic('integer too large to evaluate statically', range);
      }
      case 'float_expression':
        return { kind: 'float', value: Number(node.text), range };
      case 'string_expression':
        return this.evalString(node, scope, false);
      case 'indented_string_expression':
        return this.evalString(node, scope, true);
      case 'path_expression':
        return this.evalPath(node, scope);
      case 'hpath_expression':
        return dynamic(`${quote(node)} depends on the home directory of whoever evaluates it`, range);
      case 'spath_expression':
        return { kind: 'path', value: node.text, range };
      case 'uri_expression':
        return { kind: 'string', value: node.text, range };
      case 'variable_expression':
        return this.evalVariable(node, scope);
      case 'parenthesized_expression':
        return this.evalChild(node, 'expression', scope);
      case 'list_expression':
        return {
          kind: 'list',
          items: childrenInField(node, 'element').map((element) => this.delay(element, scope, 'a list element')),
          range,
        };
      case 'attrset_expression':
        return { kind: 'attrs', attrs: this.bindingsOf(bindingsIn(node), scope, scope), range };
      case 'rec_attrset_expression':
        return { kind: 'attrs', attrs: this.bindingScope(bindingsIn(node), scope).attrs, range };
      case 'let_expression':
        return this.evalChild(node, 'body', this.bindingScope(bindingsIn(node), scope).scope);
      case 'let_attrset_expression': {
        const body = this.bindingScope(bindingsIn(node), scope).attrs.get('body');
        return body ? body.thunk.force() : dynamic('`let { … }` has no `body` attribute', range);
      }
      case 'with_expression':
        return this.evalChild(node, 'body', this.withScope(node, scope));
      case 'function_expression':
        return { kind: 'lambda', range };
      case 'select_expression':
        return this.evalSelect(node, scope);
      case 'has_attr_expression':
        return this.evalHasAttr(node, scope);
      case 'apply_expression':
        return this.evalApply(node, scope);
      case 'unary_expression':
        return this.evalUnary(node, scope);
      case 'binary_expression':
        return this.evalBinary(node, scope);
      case 'if_expression':
        return this.evalIf(node, scope);
      case 'assert_expression':
        return this.evalAssert(node, scope);
      case 'ERROR':
      case '{':
        return this.evalRecoveredAttrset(node, scope);
      default:
        return dynamic(`cannot evaluate ${quote(node)} statically`, range);
    }
  }

  private evalChild(node: SyntaxNode, field: string, scope: Scope | undefined): LazyValue {
    const child = node.childForFieldName(field);
    return child ? this.eval(child, scope) : dynamic('incomplete expression (syntax error)', rangeOf(node));
  }

  private delay(node: SyntaxNode, scope: Scope | undefined, label: string): Thunk {
    return new Thunk(() => this.eval(node, scope), label, rangeOf(node));
  }

  // ── names and scopes ──────────────────────────────────────────────────────

  private evalVariable(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    const name = node.text;
    const range = rangeOf(node);
    const found = lookup(name, scope);
    switch (found.found) {
      case 'thunk':
        return found.thunk.force();
      case 'argument':
        return dynamic(found.why, range);
      case 'with':
        // Nix's global names (`true`, `toString`, …) are lexical: no `with` can hide them.
        if (isGlobalName(name)) return this.globalName(name, range);
        for (const withScope of found.scopes) {
          const environment = withScope.environment.force();
          if (environment.kind === 'attrs') {
            const attr = environment.attrs.get(name);
            if (attr) return attr.thunk.force();
            continue;
          }
          if (environment.kind === 'dynamic') return dynamic(`\`${name}\` comes from \`with ${withScope.source};\`, ${NIX_ONLY}`, range);
          return dynamic(`\`with ${withScope.source};\` needs an attribute set, not ${TYPE_NAMES[environment.kind]}`, range);
        }
        return this.globalName(name, range);
      case 'nothing':
        return this.globalName(name, range);
    }
  }

  private globalName(name: string, range: SourceRange): LazyValue {
    if (name === 'true' || name === 'false') return { kind: 'bool', value: name === 'true', range };
    if (name === 'null') return { kind: 'null', range };
    if (isGlobalName(name)) return { kind: 'builtin', name, range };
    return dynamic(`\`${name}\` is not defined`, range);
  }

  private argumentScope(formals: SyntaxNode | null, universal: SyntaxNode | null, parent: Scope | undefined): Scope {
    const names = new Map<string, string>();
    if (universal) names.set(universal.text, `\`${universal.text}\` is a function argument, ${NIX_ONLY}`);
    for (const formal of childrenInField(formals, 'formal')) {
      const name = formal.childForFieldName('name')?.text;
      if (!name) continue;
      const fallback = formal.childForFieldName('default');
      names.set(
        name,
        fallback
          ? `\`${name}\` is a function argument (default ${quote(fallback)}), ${NIX_ONLY}`
          : `\`${name}\` is a function argument, ${NIX_ONLY}`,
      );
    }
    return { kind: 'arguments', names, parent };
  }

  private withScope(node: SyntaxNode, parent: Scope | undefined): Scope {
    const environment = node.childForFieldName('environment');
    return {
      kind: 'with',
      environment: environment ? this.delay(environment, parent, '`with`') : Thunk.of(dynamic('incomplete `with`', rangeOf(node))),
      source: environment ? quote(environment).slice(1, -1) : '',
      parent,
    };
  }

  /** The recursive scope of a let or rec: its bindings see each other; `inherit x;` sees the scope outside. */
  private bindingScope(bindings: SyntaxNode[], parent: Scope | undefined): { scope: Scope; attrs: Map<string, LazyAttr> } {
    const names = new Map<string, Thunk>();
    const scope: Scope = { kind: 'bindings', names, parent };
    // As in Nix, the static names are bound first; `${e} = …;` names may then use them but are not in scope.
    const attrs = this.bindingsOf(bindings.filter((b) => !hasDynamicName(b)), scope, parent);
    for (const [name, attr] of attrs) names.set(name, attr.thunk);
    for (const [name, attr] of this.bindingsOf(bindings.filter(hasDynamicName), scope, scope)) {
      if (!attrs.has(name)) attrs.set(name, attr);
    }
    return { scope, attrs };
  }

  // ── attribute sets ────────────────────────────────────────────────────────

  /**
   * The attributes that a list of bindings defines. Values are evaluated in
   * `valueScope`, `inherit x;` and dynamic names in `outerScope`. `a.b = 1; a.c = 2;`
   * and `a = { b = 1; }; a.c = 2;` merge into one nested set, as in Nix.
   */
  private bindingsOf(bindings: SyntaxNode[], valueScope: Scope | undefined, outerScope: Scope | undefined): Map<string, LazyAttr> {
    const tree = new Map<string, PendingAttr>();
    this.addBindings(tree, bindings, valueScope, outerScope);
    return this.finishAttrs(tree);
  }

  private addBindings(tree: Map<string, PendingAttr>, bindings: SyntaxNode[], valueScope: Scope | undefined, outerScope: Scope | undefined): void {
    for (const binding of bindings) {
      if (binding.type === 'binding') this.addBinding(tree, binding, valueScope, outerScope);
      else if (binding.type === 'inherit' || binding.type === 'inherit_from') this.addInherit(tree, binding, valueScope, outerScope);
    }
  }

  private addBinding(tree: Map<string, PendingAttr>, binding: SyntaxNode, valueScope: Scope | undefined, outerScope: Scope | undefined): void {
    const expression = binding.childForFieldName('expression');
    const attrpath = childrenInField(binding.childForFieldName('attrpath'), 'attr');
    if (!expression || attrpath.length === 0) return;
    let level = tree;
    for (const [index, attr] of attrpath.entries()) {
      const name = this.attrName(attr, outerScope);
      // A name only Nix can compute: the set may hold one more attribute, the known ones stay known.
      if (typeof name !== 'string') return;
      const existing = level.get(name);
      if (index === attrpath.length - 1) {
        if (!existing) {
          level.set(name, { nameRange: rangeOf(attr), range: rangeOf(binding), expression, scope: valueScope });
        } else if (existing.nested && expression.type === 'attrset_expression') {
          this.addBindings(existing.nested, bindingsIn(expression), valueScope, valueScope);
        }
        return;
      }
      let next = existing;
      if (!next) {
        next = { nameRange: rangeOf(attr), range: rangeOf(binding), nested: new Map() };
        level.set(name, next);
      } else if (!next.nested && next.expression?.type === 'attrset_expression') {
        next.nested = new Map();
        this.addBindings(next.nested, bindingsIn(next.expression), next.scope, next.scope);
        next.expression = undefined;
      }
      if (!next.nested) return;
      level = next.nested;
    }
  }

  private addInherit(tree: Map<string, PendingAttr>, inherit: SyntaxNode, valueScope: Scope | undefined, outerScope: Scope | undefined): void {
    const source = inherit.type === 'inherit_from' ? inherit.childForFieldName('expression') : null;
    const from = source ? this.delay(source, valueScope, quote(source)) : undefined;
    for (const attr of childrenInField(inherit.childForFieldName('attrs'), 'attr')) {
      const name = this.attrName(attr, outerScope);
      if (typeof name !== 'string' || tree.has(name)) continue;
      const range = rangeOf(attr);
      const thunk = from
        ? new Thunk(() => this.selectName(from.force(), name, range, source!), `\`${name}\``, range)
        : new Thunk(() => this.evalVariableNamed(name, range, outerScope), `\`${name}\``, range);
      tree.set(name, { nameRange: range, range, thunk });
    }
  }

  private evalVariableNamed(name: string, range: SourceRange, scope: Scope | undefined): LazyValue {
    const found = lookup(name, scope);
    if (found.found === 'thunk') return found.thunk.force();
    if (found.found === 'argument') return dynamic(found.why, range);
    if (found.found === 'with' && !isGlobalName(name)) return dynamic(`\`${name}\` comes from \`with ${found.scopes[0].source};\`, ${NIX_ONLY}`, range);
    return this.globalName(name, range);
  }

  private finishAttrs(tree: Map<string, PendingAttr>): Map<string, LazyAttr> {
    const attrs = new Map<string, LazyAttr>();
    for (const [name, pending] of tree) {
      let thunk: Thunk;
      if (pending.thunk) thunk = pending.thunk;
      else if (pending.nested) thunk = Thunk.of({ kind: 'attrs', attrs: this.finishAttrs(pending.nested), range: pending.range });
      else thunk = this.delay(pending.expression!, pending.scope, `\`${name}\``);
      attrs.set(name, { thunk, nameRange: pending.nameRange });
    }
    return attrs;
  }

  /** An attribute name in a binding, inherit or select: `a`, `"a b"`, `${e}`; a dynamic value when it cannot be known. */
  private attrName(attr: SyntaxNode, scope: Scope | undefined): string | LazyValue {
    if (attr.type === 'identifier') return attr.text;
    const value = attr.type === 'interpolation' ? this.evalChild(attr, 'expression', scope) : this.eval(attr, scope);
    if (value.kind === 'string') return value.value;
    if (value.kind === 'dynamic') return value;
    return dynamic(`an attribute name must be a string, not ${TYPE_NAMES[value.kind]}`, rangeOf(attr));
  }

  /**
   * `f { a = 1;` in a broken file: tree-sitter leaves the bindings inside an ERROR
   * node, or as siblings after a lone `{`. They still evaluate as an attrset.
   */
  private evalRecoveredAttrset(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    const bindings: SyntaxNode[] = [];
    let last = node;
    if (node.type === 'ERROR') {
      bindings.push(...node.namedChildren);
      last = node;
    } else {
      for (let next = node.nextSibling; next && next.type !== '}'; next = next.nextSibling) {
        bindings.push(next);
        last = next;
      }
    }
    const range = { start: rangeOf(node).start, end: rangeOf(last).end };
    const usable = bindings.filter((b) => b.type === 'binding' || b.type === 'inherit' || b.type === 'inherit_from');
    if (usable.length === 0 && node.type === 'ERROR') return dynamic('syntax error', range);
    return { kind: 'attrs', attrs: this.bindingsOf(usable, scope, scope), range };
  }

  // ── selection ─────────────────────────────────────────────────────────────

  private evalSelect(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    const base = node.childForFieldName('expression');
    const attrpath = childrenInField(node.childForFieldName('attrpath'), 'attr');
    const fallback = node.childForFieldName('default');
    const range = rangeOf(node);
    if (!base) return dynamic('incomplete expression (syntax error)', range);
    let value = this.eval(base, scope);
    for (const attr of attrpath) {
      if (value.kind === 'dynamic') return dynamic(value.why, range);
      const name = this.attrName(attr, scope);
      if (typeof name !== 'string') return name;
      if (value.kind === 'builtin' && value.name === 'builtins') {
        value = GLOBAL_BUILTINS.has(name) && name !== 'builtins'
          ? { kind: 'builtin', name, range }
          : dynamic(`\`builtins.${name}\` is ${NIX_ONLY}`, range);
        continue;
      }
      if (value.kind !== 'attrs' || !value.attrs.has(name)) {
        if (fallback) return this.eval(fallback, scope);
        return value.kind === 'attrs'
          ? dynamic(`attribute \`${name}\` missing (Nix fails here)`, rangeOf(attr))
          : dynamic(`${quote(node)}: \`${name}\` selected from ${TYPE_NAMES[value.kind]} (Nix fails here)`, rangeOf(attr));
      }
      value = value.attrs.get(name)!.thunk.force();
    }
    return value;
  }

  private selectName(value: LazyValue, name: string, range: SourceRange, source: SyntaxNode): LazyValue {
    if (value.kind === 'dynamic') return dynamic(value.why, range);
    if (value.kind !== 'attrs') return dynamic(`\`inherit (${quote(source).slice(1, -1)})\` needs an attribute set, not ${TYPE_NAMES[value.kind]}`, range);
    const attr = value.attrs.get(name);
    return attr ? attr.thunk.force() : dynamic(`attribute \`${name}\` missing from ${quote(source)} (Nix fails here)`, range);
  }

  private evalHasAttr(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    const range = rangeOf(node);
    let value = this.evalChild(node, 'expression', scope);
    for (const attr of childrenInField(node.childForFieldName('attrpath'), 'attr')) {
      if (value.kind === 'dynamic') return value;
      if (value.kind !== 'attrs') return { kind: 'bool', value: false, range };
      const name = this.attrName(attr, scope);
      if (typeof name !== 'string') return name;
      const found = value.attrs.get(name);
      if (!found) return { kind: 'bool', value: false, range };
      value = found.thunk.force();
    }
    return value.kind === 'dynamic' ? value : { kind: 'bool', value: true, range };
  }

  // ── application ───────────────────────────────────────────────────────────

  private evalApply(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    const fnNode = node.childForFieldName('function');
    const argument = node.childForFieldName('argument');
    const range = rangeOf(node);
    if (!fnNode || !argument) return dynamic('incomplete function call (syntax error)', range);
    const fn = this.eval(fnNode, scope);
    const calleeName = lastName(fnNode);
    if (fn.kind === 'builtin') {
      switch (fn.name) {
        case 'toString':
          return this.coerceToString(this.eval(argument, scope), range, true);
        case 'identity':
          return this.eval(argument, scope);
        case 'mkOverride':
          return { kind: 'builtin', name: 'identity', range };
        case 'throw':
        case 'abort': {
          const message = this.eval(argument, scope);
          return dynamic(`Nix fails here: ${fn.name} ${message.kind === 'string' ? JSON.stringify(message.value) : quote(argument)}`, range);
        }
        default:
          return dynamic(`${quote(node)} calls \`${fn.name}\`, which only Nix evaluates`, range);
      }
    }
    if (fn.kind === 'dynamic' || fn.kind === 'lambda') {
      if (calleeName && PRIORITY_WRAPPERS.has(calleeName)) return this.eval(argument, scope);
      if (calleeName === 'mkOverride') return { kind: 'builtin', name: 'identity', range };
      return dynamic(`${quote(node)} is a function call, ${NIX_ONLY}`, range);
    }
    return dynamic(`${quote(fnNode)} is ${TYPE_NAMES[fn.kind]}, not a function (Nix fails here)`, rangeOf(fnNode));
  }

  // ── operators ─────────────────────────────────────────────────────────────

  private evalUnary(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    const operator = node.childForFieldName('operator')?.type;
    const value = this.evalChild(node, 'argument', scope);
    const range = rangeOf(node);
    if (value.kind === 'dynamic') return value;
    if (operator === '!') {
      return value.kind === 'bool' ? { kind: 'bool', value: !value.value, range } : typeError('`!`', value, range);
    }
    if (value.kind === 'int' || value.kind === 'float') return { kind: value.kind, value: -value.value || 0, range };
    return typeError('`-`', value, range);
  }

  private evalBinary(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    const operator = node.childForFieldName('operator')?.type ?? '';
    const leftNode = node.childForFieldName('left');
    const rightNode = node.childForFieldName('right');
    const range = rangeOf(node);
    if (!leftNode || !rightNode) return dynamic('incomplete expression (syntax error)', range);
    const left = this.eval(leftNode, scope);
    if (operator === '&&' || operator === '||' || operator === '->') return this.evalLogic(operator, left, rightNode, scope, range);
    const right = this.eval(rightNode, scope);
    if (left.kind === 'dynamic') return left;
    if (right.kind === 'dynamic') return right;
    switch (operator) {
      case '+':
        return this.add(left, right, range);
      case '-':
      case '*':
      case '/':
        return arithmetic(operator, left, right, range);
      case '++':
        if (left.kind !== 'list' || right.kind !== 'list') return typeError('`++`', left.kind !== 'list' ? left : right, range);
        if (left.items.length + right.items.length > MAX_LIST_LENGTH) return dynamic('list too long to evaluate statically', range);
        return { kind: 'list', items: [...left.items, ...right.items], range };
      case '//':
        if (left.kind !== 'attrs' || right.kind !== 'attrs') return typeError('`//`', left.kind !== 'attrs' ? left : right, range);
        return { kind: 'attrs', attrs: new Map([...left.attrs, ...right.attrs]), range };
      case '==':
      case '!=': {
        const equal = this.equal(left, right);
        if (typeof equal !== 'boolean') return equal;
        return { kind: 'bool', value: operator === '==' ? equal : !equal, range };
      }
      case '<':
      case '<=':
      case '>':
      case '>=':
        return compare(operator, left, right, range);
      default:
        return dynamic(`cannot evaluate \`${operator}\` statically`, range);
    }
  }

  private evalLogic(operator: string, left: LazyValue, rightNode: SyntaxNode, scope: Scope | undefined, range: SourceRange): LazyValue {
    if (left.kind === 'dynamic') return left;
    if (left.kind !== 'bool') return typeError(`\`${operator}\``, left, range);
    // Short-circuit exactly as Nix does: the right side is not evaluated when the left decides.
    if (operator === '&&' && !left.value) return { kind: 'bool', value: false, range };
    if (operator === '||' && left.value) return { kind: 'bool', value: true, range };
    if (operator === '->' && !left.value) return { kind: 'bool', value: true, range };
    const right = this.eval(rightNode, scope);
    if (right.kind === 'dynamic') return right;
    return right.kind === 'bool' ? { kind: 'bool', value: right.value, range } : typeError(`\`${operator}\``, right, range);
  }

  private add(left: LazyValue, right: LazyValue, range: SourceRange): LazyValue {
    const numeric = (v: LazyValue) => v.kind === 'int' || v.kind === 'float';
    if (numeric(left) && numeric(right)) return arithmetic('+', left, right, range);
    if (left.kind === 'path' && (right.kind === 'string' || right.kind === 'path')) {
      const suffix = right.value;
      if (right.kind === 'path' && right.value.startsWith('<')) return dynamic(`${right.value} is found through NIX_PATH, ${NIX_ONLY}`, right.range);
      return { kind: 'path', value: joinPath(left.value, suffix), range };
    }
    if (left.kind === 'string' && !numeric(right)) {
      const suffix = this.coerceToString(right, range, false);
      if (suffix.kind !== 'string') return suffix;
      return concatenate(left.value, suffix.value, range);
    }
    return dynamic(`\`+\` cannot add ${TYPE_NAMES[left.kind]} and ${TYPE_NAMES[right.kind]} (Nix fails here)`, range);
  }

  /** Deep equality as `==` has it; a dynamic value when any compared part is unknown. */
  private equal(left: LazyValue, right: LazyValue): boolean | LazyValue {
    if (left.kind === 'dynamic') return left;
    if (right.kind === 'dynamic') return right;
    if (this.depth >= MAX_DEPTH) return dynamic('too deeply nested to evaluate statically', left.range);
    const numeric = (v: LazyValue) => v.kind === 'int' || v.kind === 'float';
    if (numeric(left) && numeric(right)) return (left as { value: number }).value === (right as { value: number }).value;
    if (left.kind !== right.kind) return false;
    this.depth++;
    try {
      switch (left.kind) {
        case 'string':
        case 'path':
        case 'bool':
          return left.value === (right as typeof left).value;
        case 'null':
          return true;
        case 'list': {
          const other = right as typeof left;
          if (left.items.length !== other.items.length) return false;
          for (const [index, item] of left.items.entries()) {
            const equal = this.equal(item.force(), other.items[index].force());
            if (equal !== true) return equal;
          }
          return true;
        }
        case 'attrs': {
          const other = right as typeof left;
          if (left.attrs.size !== other.attrs.size) return false;
          for (const [name, attr] of left.attrs) {
            const match = other.attrs.get(name);
            if (!match) return false;
            const equal = this.equal(attr.thunk.force(), match.thunk.force());
            if (equal !== true) return equal;
          }
          return true;
        }
        default:
          // Functions are never equal in Nix.
          return false;
      }
    } finally {
      this.depth--;
    }
  }

  // ── control ───────────────────────────────────────────────────────────────

  private evalIf(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    const conditionNode = node.childForFieldName('condition');
    const range = rangeOf(node);
    if (!conditionNode) return dynamic('incomplete `if` (syntax error)', range);
    const condition = this.eval(conditionNode, scope);
    if (condition.kind === 'dynamic') {
      return dynamic(`chosen by the condition ${quote(conditionNode)}, which is not known statically: ${condition.why}`, condition.range);
    }
    if (condition.kind !== 'bool') return typeError('`if`', condition, rangeOf(conditionNode));
    return this.evalChild(node, condition.value ? 'consequence' : 'alternative', scope);
  }

  private evalAssert(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    const conditionNode = node.childForFieldName('condition');
    if (conditionNode) {
      const condition = this.eval(conditionNode, scope);
      if (condition.kind === 'bool' && !condition.value) return dynamic(`assertion ${quote(conditionNode)} fails (Nix fails here)`, rangeOf(conditionNode));
      if (condition.kind !== 'bool' && condition.kind !== 'dynamic') return typeError('`assert`', condition, rangeOf(conditionNode));
    }
    return this.evalChild(node, 'body', scope);
  }

  // ── strings and paths ─────────────────────────────────────────────────────

  private evalString(node: SyntaxNode, scope: Scope | undefined, indented: boolean): LazyValue {
    const range = rangeOf(node);
    const parts: StringPart[] = [];
    let unknown: LazyValue | undefined;
    for (const child of node.namedChildren) {
      switch (child.type) {
        case 'string_fragment':
          // After `''$` / `\$` the grammar emits the `$` as a fragment of its own; Nix treats it as an escape.
          {
            const text = child.text;
            const escaped = text === '$' && child.previousSibling?.type === 'dollar_escape';
            parts.push({ text, kind: escaped ? 'escape' : 'literal' });
          }
          break;
        case 'escape_sequence':
          parts.push({ text: indented ? unescapeIndented(child.text) : unescape(child.text.slice(1)), kind: 'escape' });
          break;
        case 'interpolation': {
          const value = this.coerceToString(this.evalChild(child, 'expression', scope), rangeOf(child), false);
          if (value.kind === 'string') parts.push({ text: value.value, kind: 'interpolation' });
          else unknown ??= value;
          break;
        }
      }
    }
    if (unknown) return unknown;
    // Nix's lexer swallows spaces and one newline right after the opening `''`.
    if (indented && parts[0]?.kind === 'literal') parts[0] = { ...parts[0], text: parts[0].text.replace(/^ *\n/, '') };
    const text = indented ? stripIndentation(parts) : parts.map((part) => part.text).join('');
    return text.length > MAX_STRING_LENGTH ? dynamic('string too long to evaluate statically', range) : { kind: 'string', value: text, range };
  }

  private evalPath(node: SyntaxNode, scope: Scope | undefined): LazyValue {
    const range = rangeOf(node);
    let text = '';
    for (const child of node.namedChildren) {
      if (child.type === 'path_fragment') {
        text += child.text;
        continue;
      }
      const value = this.coerceToString(this.evalChild(child, 'expression', scope), rangeOf(child), false);
      if (value.kind !== 'string') return value;
      text += value.value;
    }
    const absolute = text.startsWith('/') ? path.posix.resolve(text) : path.posix.resolve(path.dirname(this.file), text);
    return { kind: 'path', value: absolute, range };
  }

  /**
   * What `"${v}"` (interpolation) or `toString v` makes of a value. Interpolating a
   * path copies it into the Nix store, whose path only Nix computes.
   */
  private coerceToString(value: LazyValue, range: SourceRange, toStringCall: boolean): LazyValue {
    switch (value.kind) {
      case 'dynamic':
        return value;
      case 'string':
        return value;
      case 'path':
        if (value.value.startsWith('<')) return dynamic(`${value.value} is found through NIX_PATH, ${NIX_ONLY}`, value.range);
        return toStringCall
          ? { kind: 'string', value: value.value, range }
          : dynamic(`interpolating a path copies it into the Nix store; the store path is ${NIX_ONLY}`, value.range);
      case 'attrs': {
        const outPath = value.attrs.get('outPath');
        if (outPath) return this.coerceToString(outPath.thunk.force(), range, toStringCall);
        if (value.attrs.has('__toString')) return dynamic(`calls \`__toString\`, ${NIX_ONLY}`, value.range);
        break;
      }
    }
    if (toStringCall) {
      switch (value.kind) {
        case 'int':
          return { kind: 'string', value: String(value.value), range };
        case 'float':
          return { kind: 'string', value: value.value.toFixed(6), range };
        case 'bool':
          return { kind: 'string', value: value.value ? '1' : '', range };
        case 'null':
          return { kind: 'string', value: '', range };
        case 'list': {
          let text = '';
          for (const [index, item] of value.items.entries()) {
            const forced = item.force();
            const part = this.coerceToString(forced, range, true);
            if (part.kind !== 'string') return part;
            text += part.value;
            if (index < value.items.length - 1 && !(forced.kind === 'list' && forced.items.length === 0)) text += ' ';
          }
          return { kind: 'string', value: text, range };
        }
      }
    }
    return dynamic(`cannot coerce ${TYPE_NAMES[value.kind]} to a string (Nix fails here)`, value.range);
  }
}

interface PendingAttr {
  nameRange: SourceRange;
  range: SourceRange;
  expression?: SyntaxNode;
  scope?: Scope;
  nested?: Map<string, PendingAttr>;
  thunk?: Thunk;
}

interface StringPart {
  text: string;
  /** Only literal source text has indentation; escapes and interpolations are content. */
  kind: 'literal' | 'escape' | 'interpolation';
}

function isGlobalName(name: string): boolean {
  return name === 'true' || name === 'false' || name === 'null' || GLOBAL_BUILTINS.has(name) || name.startsWith('__');
}

/** `${e} = …;` or `"${e}" = …;`: a binding whose name is computed. */
function hasDynamicName(binding: SyntaxNode): boolean {
  const first = binding.type === 'binding' ? binding.childForFieldName('attrpath')?.childForFieldName('attr') : null;
  return !!first && (first.type === 'interpolation' || first.namedChildren.some((c) => c.type === 'interpolation'));
}

function bindingsIn(node: SyntaxNode): SyntaxNode[] {
  return childrenInField(node.namedChildren.find((child) => child.type === 'binding_set'), 'binding');
}

/** The name a function is called by: `f` in `f x`, `mkForce` in `lib.mkForce x`. */
function lastName(fn: SyntaxNode): string | undefined {
  if (fn.type === 'variable_expression') return fn.text;
  if (fn.type === 'select_expression') {
    const attrs = childrenInField(fn.childForFieldName('attrpath'), 'attr');
    const last = attrs[attrs.length - 1];
    return last?.type === 'identifier' ? last.text : undefined;
  }
  return undefined;
}

function typeError(operator: string, operand: LazyValue, range: SourceRange): LazyValue {
  return dynamic(`${operator} cannot take ${TYPE_NAMES[operand.kind]} (Nix fails here)`, range);
}

function arithmetic(operator: '+' | '-' | '*' | '/', left: LazyValue, right: LazyValue, range: SourceRange): LazyValue {
  if (left.kind !== 'int' && left.kind !== 'float') return typeError(`\`${operator}\``, left, range);
  if (right.kind !== 'int' && right.kind !== 'float') return typeError(`\`${operator}\``, right, range);
  const integers = left.kind === 'int' && right.kind === 'int';
  if (operator === '/' && right.value === 0) return dynamic('division by zero (Nix fails here)', range);
  let value: number;
  switch (operator) {
    case '+': value = left.value + right.value; break;
    case '-': value = left.value - right.value; break;
    case '*': value = left.value * right.value; break;
    // Nix divides integers with truncation toward zero, as C does.
    case '/': value = integers ? Math.trunc(left.value / right.value) : left.value / right.value; break;
  }
  if (!integers) return { kind: 'float', value, range };
  return Number.isSafeInteger(value) ? { kind: 'int', value: value || 0, range } : dynamic('integer too large to evaluate statically', range);
}

function compare(operator: string, left: LazyValue, right: LazyValue, range: SourceRange): LazyValue {
  const numeric = (v: LazyValue) => v.kind === 'int' || v.kind === 'float';
  const comparable = (numeric(left) && numeric(right)) || (left.kind === right.kind && (left.kind === 'string' || left.kind === 'path'));
  if (!comparable) return dynamic(`cannot compare ${TYPE_NAMES[left.kind]} with ${TYPE_NAMES[right.kind]} (Nix fails here)`, range);
  const a = (left as { value: number | string }).value;
  const b = (right as { value: number | string }).value;
  const result = operator === '<' ? a < b : operator === '<=' ? a <= b : operator === '>' ? a > b : a >= b;
  return { kind: 'bool', value: result, range };
}

function concatenate(a: string, b: string, range: SourceRange): LazyValue {
  return a.length + b.length > MAX_STRING_LENGTH
    ? dynamic('string too long to evaluate statically', range)
    : { kind: 'string', value: a + b, range };
}

/** `path + "suffix"`: plain concatenation, then Nix's canonicalisation. `<nixpkgs/x>` keeps its brackets. */
function joinPath(base: string, suffix: string): string {
  if (base.startsWith('<') && base.endsWith('>')) {
    const inner = path.posix.normalize(base.slice(1, -1) + suffix).replace(/\/+$/, '');
    return `<${inner}>`;
  }
  return path.posix.resolve('/', base + suffix);
}

/** The character after a backslash in a double-quoted string. */
function unescape(character: string): string {
  switch (character) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    default: return character;
  }
}

/** `'''` → `''`, `''\n` → newline, `''\x` → `x`. */
function unescapeIndented(text: string): string {
  return text === "'''" ? "''" : unescape(text.slice(3));
}

/**
 * Nix's indentation stripping for `'' … ''`: the smallest indentation of the
 * non-blank lines is removed from every line, interpolations and escapes count as
 * content, and a last line of only spaces is dropped.
 */
function stripIndentation(parts: StringPart[]): string {
  let minIndent = Infinity;
  let atLineStart = true;
  let indent = 0;
  for (const part of parts) {
    if (part.kind !== 'literal') {
      if (atLineStart) {
        atLineStart = false;
        minIndent = Math.min(minIndent, indent);
      }
      continue;
    }
    for (const character of part.text) {
      if (atLineStart) {
        if (character === ' ') indent++;
        else if (character === '\n') indent = 0;
        else {
          atLineStart = false;
          minIndent = Math.min(minIndent, indent);
        }
      } else if (character === '\n') {
        atLineStart = true;
        indent = 0;
      }
    }
  }
  if (minIndent === Infinity) minIndent = 0;

  let result = '';
  atLineStart = true;
  let dropped = 0;
  for (const [index, part] of parts.entries()) {
    if (part.kind === 'interpolation') {
      result += part.text;
      atLineStart = false;
      dropped = 0;
      continue;
    }
    let text = '';
    for (const character of part.text) {
      if (atLineStart) {
        if (character === ' ') {
          if (dropped++ >= minIndent) text += character;
        } else if (character === '\n') {
          dropped = 0;
          text += character;
        } else {
          atLineStart = false;
          dropped = 0;
          text += character;
        }
      } else {
        text += character;
        if (character === '\n') atLineStart = true;
      }
    }
    if (index === parts.length - 1) {
      const lastNewline = text.lastIndexOf('\n');
      if (lastNewline !== -1 && /^ *$/.test(text.slice(lastNewline + 1))) text = text.slice(0, lastNewline + 1);
    }
    result += text;
  }
  return result;
}
