import { MarkupKind, type Hover, type Position } from 'vscode-languageserver';
import { describeLayout } from '../analysis/plan-view.js';
import { argumentSpec } from '../analysis/schema.js';
import type { AnalyzedDocument } from './documents.js';
import { locate } from './locate.js';
import { argumentMarkdown, layoutMarkdown } from './markdown.js';
import { fromLspPosition, toLspRange } from './ranges.js';

/** The values whose hover shows the layout they lead to, rather than the argument's doc. */
const LAYOUT_ARGUMENTS: ReadonlySet<string> = new Set(['partitionTableType', 'bootSize', 'diskSize']);

/**
 * On an argument name: its type, default and nixpkgs' documentation. On the call
 * itself, or on a value that decides the partition layout: the layout with offsets.
 */
export function hover(document: AnalyzedDocument, position: Position): Hover | null {
  const target = locate(document.analysis, fromLspPosition(position));
  if (!target) return null;
  const markdown = (value: string, range: Parameters<typeof toLspRange>[0]): Hover => ({
    contents: { kind: MarkupKind.Markdown, value },
    range: toLspRange(range),
  });
  switch (target.kind) {
    case 'argument-name': {
      const spec = argumentSpec(target.name);
      return spec ? markdown(argumentMarkdown(spec, target.site.args), target.attr.nameRange) : null;
    }
    case 'argument-value':
      if (!LAYOUT_ARGUMENTS.has(target.name) || !target.site.args) return null;
      return markdown(layoutMarkdown(describeLayout(target.site.args)), target.attr.value.range);
    case 'call':
      if (!target.site.args) return null;
      return markdown(layoutMarkdown(describeLayout(target.site.args)), target.site.range);
    case 'argument-set':
      return null;
  }
}
