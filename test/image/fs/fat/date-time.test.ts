import { describe, expect, it } from 'vitest';
import { FAT_EPOCH, fatDateTime } from '../../../../src/image/fs/fat/date-time.js';

const at = (iso: string) => Date.parse(iso) / 1000;

describe('fatDateTime', () => {
  it.each([
    ['1980-01-01 00:00:00, the first moment FAT holds (what mtools wrote for it)', FAT_EPOCH, { date: 0x0021, time: 0 }],
    ['the Unix epoch, raised to 1980', 0, { date: 0x0021, time: 0 }],
    ['2024-05-06 07:08:09: seconds halved, rounded down', at('2024-05-06T07:08:09Z'), { date: (44 << 9) | (5 << 5) | 6, time: (7 << 11) | (8 << 5) | 4 }],
    ['2038-01-19 03:14:07, past 32-bit time', at('2038-01-19T03:14:07Z'), { date: (58 << 9) | (1 << 5) | 19, time: (3 << 11) | (14 << 5) | 3 }],
    ['2107-12-31 23:59:59, the last second, as 23:59:58', at('2107-12-31T23:59:59Z'), { date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29 }],
    ['2200, lowered to the last moment', at('2200-01-01T00:00:00Z'), { date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29 }],
  ])('%s', (_name, seconds, expected) => {
    expect(fatDateTime(seconds)).toEqual(expected);
  });
});
