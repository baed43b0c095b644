/**
 * Loaded into the nixdisk process by the build benchmark (`NODE_OPTIONS=--import=…`): at exit it
 * writes the process's own peak RSS in KiB (getrusage RUSAGE_SELF), which no outside
 * observer can read exactly once the process is gone.
 */
import { writeFileSync } from 'node:fs';

const reportFile = process.env.NIXDISK_BENCH_RSS_FILE;
if (reportFile) process.on('exit', () => writeFileSync(reportFile, String(process.resourceUsage().maxRSS)));
