/**
 * FAT's packed local date and time, taken in UTC (as mtools did under TZ=UTC): the date
 * as (year − 1980) << 9 | month << 5 | day, the time as hours << 11 | minutes << 5 |
 * seconds / 2.
 */

/** 1980-01-01 00:00:00 UTC, the first moment a FAT directory entry can hold. */
export const FAT_EPOCH = 315532800;
/** 2107-12-31 23:59:58 UTC, the last one. */
const FAT_LAST = 4354819198;

export interface FatDateTime {
  date: number;
  time: number;
}

/** `seconds` since the Unix epoch as FAT stores it, clamped to the years FAT can hold; pure. */
export function fatDateTime(seconds: number): FatDateTime {
  const moment = new Date(Math.min(Math.max(seconds, FAT_EPOCH), FAT_LAST) * 1000);
  return {
    date: ((moment.getUTCFullYear() - 1980) << 9) | ((moment.getUTCMonth() + 1) << 5) | moment.getUTCDate(),
    time: (moment.getUTCHours() << 11) | (moment.getUTCMinutes() << 5) | (moment.getUTCSeconds() >> 1),
  };
}
