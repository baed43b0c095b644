import type { CommandModule } from 'yargs';
import check from './check.js';
import plan from './plan.js';
import build from './build.js';
import verify from './verify.js';
import inspect from './inspect.js';
import buildDerivation from './build-derivation.js';
import lsp from './lsp.js';

// Each command lives in its own file and only prints; the work happens in src/ modules.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [check, plan, build, verify, inspect, lsp, buildDerivation];
