import { describe, expect, it } from 'vitest';
import { editBetween } from '../../src/syntax/text-edit.js';

/** An edit as `start-oldEnd-newEnd @ row:column row:column row:column`, to read the table at a glance. */
function shown(before: string, after: string): string | undefined {
  const edit = editBetween(before, after);
  if (!edit) return undefined;
  const point = (p: { row: number; column: number }) => `${p.row}:${p.column}`;
  return `${edit.startIndex}-${edit.oldEndIndex}-${edit.newEndIndex} @ ${point(edit.startPosition)} ${point(edit.oldEndPosition)} ${point(edit.newEndPosition)}`;
}

describe('editBetween', () => {
  const cases: [string, string, string, string | undefined][] = [
    ['equal texts', 'a = 1;', 'a = 1;', undefined],
    ['a character typed', 'a = 1;', 'a = 12;', '5-5-6 @ 0:5 0:5 0:6'],
    ['a character deleted', 'a = 12;', 'a = 1;', '5-6-5 @ 0:5 0:6 0:5'],
    ['a character replaced on line 2', 'x\na = 1;', 'x\na = 2;', '6-7-7 @ 1:4 1:5 1:5'],
    ['a line inserted', 'a\nc\n', 'a\nb\nc\n', '2-2-4 @ 1:0 1:0 2:0'],
    ['lines joined', 'a\nb\nc', 'a c', '1-4-2 @ 0:1 2:0 0:2'],
    ['everything replaced', 'abc', 'xyz', '0-3-3 @ 0:0 0:3 0:3'],
    ['text appended', 'a', 'a\n b', '1-1-4 @ 0:1 0:1 1:2'],
    ['text emptied', 'a\nb', '', '0-3-0 @ 0:0 1:1 0:0'],
    // A repeated character: the common prefix wins, the span is one character wide.
    ['a letter doubled', 'aa', 'aaa', '2-2-3 @ 0:2 0:2 0:3'],
    // 😀 and 😁 share their first UTF-16 unit: the edit still covers the whole character.
    ['an emoji changed', 'x = "😀";', 'x = "😁";', '5-7-7 @ 0:5 0:7 0:7'],
    ['the second of two emoji removed', '"😀😀"', '"😀"', '3-5-3 @ 0:3 0:5 0:3'],
  ];
  for (const [name, before, after, expected] of cases) it(name, () => expect(shown(before, after)).toBe(expected));
});
