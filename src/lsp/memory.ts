import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Each analysis leaves garbage outside V8's heap: the previous tree-sitter tree (its
 * nodes that the new tree does not share), the binding's record of every node it handed
 * to JavaScript, and the cursors it walked with, all freed only when a full collection
 * finalizes their small JS wrappers. The JS heap grows too slowly to trigger full
 * collections on its own (over 10 000 edits of a 2000-line file resident memory grew by
 * a third without them). So the server asks for a full collection itself once it has
 * analysed `budgetChars` of text since the last one; with a ~10 MB heap that costs a few
 * milliseconds, after the diagnostics are sent. (Collecting when resident memory grows
 * does not work: freed native memory stays in the process, so the threshold would only
 * ratchet up.)
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

  constructor(private readonly budgetChars = 1024 * 1024) {}

  /** Call after each analysis of `chars` characters, once its diagnostics are on their way. */
  analysed(chars: number): void {
    this.parsedChars += chars;
    if (this.parsedChars < this.budgetChars) return;
    this.parsedChars = 0;
    fullCollection();
  }
}
