import { describe, expect, it } from 'vitest';
import { analyzeFile } from '../../src/analysis/analyze.js';
import { planCallSite } from '../../src/analysis/plan-view.js';
import { mutate, prng, SEEDS } from './corpus.js';

const INPUTS = 10_000;
/** Generous per-input bound: a small file takes well under a millisecond; anything near this is a hang. */
const PER_INPUT_MS = 2_000;

describe('fuzz: analyzeFile and plan on mutated and truncated Nix', () => {
  it(`survives ${INPUTS} inputs from seed 20240601 without throwing or hanging`, () => {
    const random = prng(20240601);
    let slowest = 0;
    let callSites = 0;
    let internalErrors: string[] = [];
    for (let i = 0; i < INPUTS; i++) {
      const text = mutate(random, SEEDS[i % SEEDS.length]!);
      const started = performance.now();
      const analysis = analyzeFile('/fuzz/input.nix', text, { alwaysReportSyntaxErrors: i % 2 === 0 });
      for (const site of analysis.callSites) {
        const plan = planCallSite(site);
        JSON.stringify(plan);
        callSites++;
      }
      const elapsed = performance.now() - started;
      slowest = Math.max(slowest, elapsed);
      expect(elapsed, `input ${i} took ${elapsed} ms:\n${text}`).toBeLessThan(PER_INPUT_MS);
      internalErrors = internalErrors.concat(analysis.diagnostics.filter((d) => d.code === 'internal-error').map((d) => `${i}: ${d.message}`));
    }
    expect(internalErrors).toEqual([]);
    // The mutations must leave many inputs that still contain a call site, or the test proves little.
    expect(callSites).toBeGreaterThan(INPUTS / 4);
    console.log(`fuzz: ${INPUTS} inputs, ${callSites} call sites, slowest ${slowest.toFixed(1)} ms`);
  });
});
