/**
 * DocumentParser must give, after any sequence of edits, the very tree parseNix gives
 * for the final text: the language server's diagnostics are `check`'s only if it does.
 */
import { describe, expect, it } from 'vitest';
import { DocumentParser, parseNix } from '../../src/syntax/parser.js';

const START = [
  '{ pkgs, lib, config }:',
  'let',
  '  makeDiskImage = import <nixpkgs/nixos/lib/make-disk-image.nix>;',
  '  size = 4096;',
  'in {',
  '  images.a = makeDiskImage {',
  '    inherit pkgs lib config;',
  '    diskSize = size;',
  '    format = "qcow2";',
  '    label = "nixos-😀";',
  '  };',
  "  services.x = { text = ''",
  '    line ${toString size}',
  "  ''; f = { a ? \"x\", b }: a; };",
  '}',
  '',
].join('\n');

/** The tree as tree-sitter prints it, with every node's span, so equal means equal to the character. */
function shape(text: string, parse: (text: string) => ReturnType<typeof parseNix>): string {
  const tree = parse(text);
  const spans: string[] = [];
  const cursor = tree.walk();
  for (let more = true; more; ) {
    spans.push(`${cursor.nodeType}${cursor.nodeIsMissing ? '!' : ''}@${cursor.startIndex}-${cursor.endIndex}`);
    if (cursor.gotoFirstChild()) continue;
    while (!cursor.gotoNextSibling()) {
      if (!cursor.gotoParent()) {
        more = false;
        break;
      }
    }
  }
  return spans.join(' ');
}

function replace(text: string, find: string, by: string): string {
  const at = text.indexOf(find);
  if (at === -1) throw new Error(`${find} is not in the text`);
  return text.slice(0, at) + by + text.slice(at + find.length);
}

describe('DocumentParser', () => {
  /** Each step rewrites the text before it; the tree after each step must be parseNix's. */
  const steps: [string, (text: string) => string][] = [
    ['a trailing formal comma added', (t) => replace(t, 'config }:', 'config, }:')],
    ['a value typed inside the call', (t) => replace(t, 'format = "qcow2"', 'format = "qcow"')],
    ['a trailing comma after a string default', (t) => replace(t, 'a ? "x", b }', 'a ? "x", b ? "y", }')],
    ['that comma removed', (t) => replace(t, 'b ? "y", }', 'b ? "y" }')],
    ['a semicolon deleted inside the call', (t) => replace(t, 'diskSize = size;', 'diskSize = size')],
    ['the semicolon back', (t) => replace(t, 'diskSize = size', 'diskSize = size;')],
    ['a binding outside the call changed', (t) => replace(t, 'size = 4096;', 'size = 8192;')],
    ['the first trailing comma removed', (t) => replace(t, 'config, }:', 'config }:')],
    ['an unclosed brace typed at the top', (t) => replace(t, 'let\n', 'let\n  broken = {\n')],
    ['the brace closed', (t) => replace(t, 'broken = {\n', 'broken = { };\n')],
    ['an emoji replaced', (t) => replace(t, '😀', '😁')],
    ['a line joined to the next', (t) => replace(t, 'lib config;\n', 'lib config; ')],
    ['a formal comma whose formals then lose their brace', (t) => replace(replace(t, 'config }:', 'config, }:'), 'config, }:', 'config, :')],
    ['everything deleted', () => ''],
    ['everything back', () => START],
  ];

  it('matches parseNix after each edit of an editing session', () => {
    const parser = new DocumentParser();
    let text = START;
    expect(shape(text, (t) => parser.parse(t))).toBe(shape(text, parseNix));
    for (const [name, step] of steps) {
      text = step(text);
      expect(shape(text, (t) => parser.parse(t)), name).toBe(shape(text, parseNix));
    }
  });

  it('matches parseNix after each of 400 random keystrokes', () => {
    // A fixed seed: a failure is the same failure on every run.
    let seed = 12;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % below;
    };
    const typed = ['{', '}', ';', ',', '"', "''", '\n', ' ', 'a', '=', '#', '?', ':', '${', '.', '(', ')'];
    const parser = new DocumentParser();
    let text = START;
    for (let keystroke = 0; keystroke < 400; keystroke++) {
      const at = random(text.length + 1);
      const deleted = random(3) === 0 ? 1 + random(3) : 0;
      text = text.slice(0, at) + (deleted ? '' : typed[random(typed.length)]) + text.slice(at + deleted);
      expect(shape(text, (t) => parser.parse(t)), `keystroke ${keystroke}: ${JSON.stringify(text)}`).toBe(shape(text, parseNix));
    }
  });
});
