/** A position in a source file: 0-based line and column (UTF-8 bytes, as tree-sitter counts). */
export interface Position {
  line: number;
  column: number;
}

/** A span of source text; `end` is exclusive. */
export interface SourceRange {
  start: Position;
  end: Position;
}

export const NO_RANGE: SourceRange = { start: { line: 0, column: 0 }, end: { line: 0, column: 0 } };
