import { fileURLToPath } from 'node:url';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { analyzeFile, type FileAnalysis } from '../analysis/analyze.js';
import { DocumentParser } from '../syntax/parser.js';

/** The analysis of one version of an open document, shared by diagnostics, hover, completion and code actions. */
export interface AnalyzedDocument {
  uri: string;
  version: number;
  text: string;
  analysis: FileAnalysis;
  /** Whether the text went through the parser (see NativeMemoryGuard). */
  parsed: boolean;
}

/**
 * Only a file that names make-disk-image.nix can hold a call site (the finder follows
 * bindings back to that literal). Other Nix files, most of what an editor opens, skip
 * parsing: their syntax errors are the Nix language server's to report, as `check`
 * keeps them quiet for files without a call site.
 */
const CALL_SITE_MARKER = 'make-disk-image';

const NOTHING: FileAnalysis = { callSites: [], diagnostics: [] };

/** A file: URI as the path the analysis resolves relative paths against; other schemes as they are. */
export function documentPath(uri: string): string {
  if (!uri.startsWith('file:')) return uri;
  try {
    return fileURLToPath(uri);
  } catch {
    return uri;
  }
}

/**
 * Larger documents are not analysed as you type: a make-disk-image file is a few KiB,
 * and a megabyte of bindings in one call's argument set takes the analysis seconds
 * (tens of seconds at 5 MB), during which the server could answer nothing.
 */
export const MAX_ANALYSED_CHARS = 1024 * 1024;

export function isTooLarge(text: string): boolean {
  return text.length > MAX_ANALYSED_CHARS;
}

export function analyzeDocument(uri: string, version: number, text: string, parser = new DocumentParser()): AnalyzedDocument {
  const parsed = !isTooLarge(text) && text.includes(CALL_SITE_MARKER);
  const analysis = parsed ? analyzeFile(documentPath(uri), text, {}, (source) => parser.parse(source)) : NOTHING;
  return { uri, version, text, analysis, parsed };
}

/** An open document: its parser, which keeps its last tree to start the next parse from, and its latest analysis. */
interface OpenDocument {
  parser: DocumentParser;
  latest?: AnalyzedDocument;
}

/** The latest analysis of each open document, recomputed only when its version changes. */
export class AnalysisCache {
  private readonly open = new Map<string, OpenDocument>();

  get(document: TextDocument): AnalyzedDocument {
    let entry = this.open.get(document.uri);
    if (!entry) this.open.set(document.uri, (entry = { parser: new DocumentParser() }));
    if (entry.latest?.version === document.version) return entry.latest;
    entry.latest = analyzeDocument(document.uri, document.version, document.getText(), entry.parser);
    return entry.latest;
  }

  forget(uri: string): void {
    this.open.delete(uri);
  }
}
