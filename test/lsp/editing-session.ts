/**
 * An editing session as an editor sends it: incremental changes to one document, some
 * inside make-disk-image calls, some outside, some adding and removing trailing formal
 * commas. Shared by the in-process and the stdio tests of incremental analysis.
 */
import type { TextDocumentContentChangeEvent } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';

export const SESSION_START = [
  '{ pkgs, lib, config }:',
  'let',
  '  makeDiskImage = import <nixpkgs/nixos/lib/make-disk-image.nix>;',
  '  size = 4096;',
  'in {',
  '  services.web = { enable = true; port = 80; };',
  '  images.a = makeDiskImage {',
  '    inherit pkgs lib config;',
  '    diskSize = size;',
  '    format = "qcow2";',
  '    partitionTableType = "efi";',
  '  };',
  '  images.b = import <nixpkgs/nixos/lib/make-disk-image.nix> {',
  '    inherit pkgs lib config;',
  '    label = "nixos";',
  '  };',
  '}',
  '',
].join('\n');

/** One didChange: each pair replaces the first occurrence of its text, in order, as separate content changes. */
export const SESSION_STEPS: [string, [string, string][]][] = [
  ['a trailing formal comma added', [['config }:', 'config, }:']]],
  ['an argument name mistyped inside a call', [['    format =', '    fomat =']]],
  ['an enum value mistyped inside the other call', [['label = "nixos";', 'label = "nixos"; partitionTableType = "efii";']]],
  ['a let binding a call reads changed outside the calls', [['size = 4096;', 'size = "big";']]],
  ['a service edited outside the calls', [['port = 80;', 'port = 8080; extra = [ 1 2 ];']]],
  ['a semicolon deleted inside a call', [['    inherit pkgs lib config;\n    diskSize', '    inherit pkgs lib config\n    diskSize']]],
  ['the semicolon back and the name fixed, in one change event', [['config\n    diskSize', 'config;\n    diskSize'], ['    fomat =', '    format =']]],
  ['a trailing comma after a string default in a new function', [['in {\n', 'in {\n  f = { a ? "x", b ? [ ], }: a;\n']]],
  ['the first trailing comma removed', [['config, }:', 'config }:']]],
  ['that function’s trailing comma removed', [['b ? [ ], }', 'b ? [ ] }']]],
  ['the size fixed and a call’s brace deleted', [['size = "big";', 'size = 8192;'], ['    label = "nixos"; partitionTableType = "efii";\n  };', '    label = "nixos"; partitionTableType = "efii";\n  ']]],
  ['the brace back', [['partitionTableType = "efii";\n  \n', 'partitionTableType = "efii";\n  };\n']]],
];

/** The content changes of one step against the document as it is, applied to it. */
export function applyStep(document: TextDocument, replacements: [string, string][]): TextDocumentContentChangeEvent[] {
  const changes: TextDocumentContentChangeEvent[] = [];
  for (const [find, by] of replacements) {
    const text = document.getText();
    const at = text.indexOf(find);
    if (at === -1) throw new Error(`${JSON.stringify(find)} is not in the document`);
    const change = { range: { start: document.positionAt(at), end: document.positionAt(at + find.length) }, text: by };
    TextDocument.update(document, [change], document.version);
    changes.push(change);
  }
  return changes;
}
