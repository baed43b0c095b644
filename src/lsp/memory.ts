import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Every analysis parses the document into a tree-sitter tree that lives outside V8's
 * heap (a 2000-line file: ~2.5 MB), freed only when a full collection finalizes its
 * small JS wrapper. The JS heap grows too slowly to trigger full collections on its own:
 * the server's memory grew by ~2.5 MB per keystroke (to ~750 MB over 10 000 edits). So
 * the server asks for a full collection itself once it has parsed `budgetChars` of text
 * since the last one; with a ~10 MB heap that costs a few milliseconds, after the
 * diagnostics are sent. (Collecting when resident memory grows does not work: freed
 * native memory stays in the process, so the threshold would only ratchet up.)
 */
let collectGarbage: (() => void) | undefined;

function fullCollection(): void {
  if (!collectGarbage) {
    v8.setFlagsFromString('--expose-gc');
    collectGarbage = vm.runInNewContext('gc') as () => void;
  }
  collectGarbage();
}

export class NativeMemoryGuard {
  private parsedChars = 0;

  constructor(private readonly budgetChars = 128 * 1024) {}

  /** Call after each analysis of `chars` characters, once its diagnostics are on their way. */
  analysed(chars: number): void {
    this.parsedChars += chars;
    if (this.parsedChars < this.budgetChars) return;
    this.parsedChars = 0;
    fullCollection();
  }
}
