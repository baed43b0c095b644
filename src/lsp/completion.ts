import { CompletionItemKind, MarkupKind, type CompletionItem, type Position } from 'vscode-languageserver';
import type { AnalyzedCallSite } from '../analysis/analyze.js';
import { describeLayout } from '../analysis/plan-view.js';
import { applyDefaults, ARGUMENTS } from '../analysis/schema.js';
import type { Attr } from '../analysis/value.js';
import { fsTypeFacts, SUPPORTED_FS_TYPES } from '../fstypes.js';
import { formatExtension, KNOWN_FORMATS, PARTITION_TABLE_TYPES } from '../options.js';
import type { AnalyzedDocument } from './documents.js';
import { locate } from './locate.js';
import { argumentMarkdown, layoutMarkdown } from './markdown.js';
import { fromLspPosition } from './ranges.js';

/** The arguments whose strings take one of a few values, and what each value means. */
const ENUMS: Record<string, { values: readonly string[]; describe: (value: string, site: AnalyzedCallSite) => string }> = {
  format: {
    values: KNOWN_FORMATS,
    describe: (value) => `Image file \`<baseName>.${formatExtension(value)}\``,
  },
  partitionTableType: {
    values: PARTITION_TABLE_TYPES,
    describe: (value, site) => {
      if (site.argument.kind !== 'attrs') return '';
      // The layout this call would get with that value, everything else as it is.
      const given = new Map<string, Attr>(site.argument.attrs);
      given.set('partitionTableType', { value: { kind: 'string', value, range: site.range }, nameRange: site.range });
      return layoutMarkdown(describeLayout(applyDefaults(given, site.range)));
    },
  },
  fsType: {
    values: SUPPORTED_FS_TYPES,
    describe: (value) => {
      const facts = fsTypeFacts(value)!;
      const label = facts.labelMaxBytes === null ? 'no label' : `labels up to ${facts.labelMaxBytes} bytes`;
      return `${facts.readOnly ? 'read-only, built at its natural size' : 'read-write'}; ${label}; written by ${facts.debianPackage}`;
    },
  },
};

/** `name = "partial` at the end of the text before the cursor: completing a string value. */
const STRING_VALUE = /([A-Za-z_][\w'-]*)\s*=\s*"([^"\\$]*)$/;
/** At the start of a binding (after `{`, `;` or at the line start), maybe with part of a name. */
const BINDING_START = /(?:^|[{;])\s*([A-Za-z_][\w'-]*)?$/;

/**
 * Inside a make-disk-image argument set: the arguments it does not write yet, with their
 * docs; inside the string of format, partitionTableType or fsType: its values.
 */
export function complete(document: AnalyzedDocument, position: Position): CompletionItem[] {
  const target = locate(document.analysis, fromLspPosition(position));
  if (!target || target.site.argument.kind !== 'attrs') return [];
  const line = document.text.split('\n', position.line + 1)[position.line] ?? '';
  const before = line.slice(0, position.character);

  const value = STRING_VALUE.exec(before);
  if (value && (target.kind === 'argument-value' || target.kind === 'argument-set')) {
    const [, name, partial] = value;
    const choices = ENUMS[name!];
    if (!choices) return [];
    const closingQuote = line.indexOf('"', position.character);
    const range = {
      start: { line: position.line, character: position.character - partial!.length },
      end: { line: position.line, character: closingQuote === -1 ? position.character : closingQuote },
    };
    return choices.values.map((choice, index) => ({
      label: choice,
      kind: CompletionItemKind.EnumMember,
      detail: `${name} = "${choice}"`,
      documentation: { kind: MarkupKind.Markdown, value: choices.describe(choice, target.site) },
      sortText: String(index).padStart(3, '0'),
      textEdit: { range, newText: choice },
    }));
  }

  const binding = BINDING_START.exec(before);
  // A half-typed name may already parse as a binding of its own: complete over it too.
  if (!binding || (target.kind !== 'argument-set' && target.kind !== 'argument-name')) return [];
  const partial = binding[1] ?? '';
  const range = { start: { line: position.line, character: position.character - partial.length }, end: position };
  const given = target.site.argument.attrs;
  return ARGUMENTS.filter((spec) => !given.has(spec.name)).map((spec, index) => ({
    label: spec.name,
    kind: CompletionItemKind.Property,
    detail: spec.typeText,
    documentation: { kind: MarkupKind.Markdown, value: argumentMarkdown(spec, target.site.args) },
    // Required arguments first, then nixpkgs' header order.
    sortText: `${spec.required ? 0 : 1}${String(index).padStart(3, '0')}`,
    filterText: spec.name,
    textEdit: { range, newText: `${spec.name} = ` },
  }));
}
