import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  DEBUG_DOT_PATH,
  DEBUG_SVG_PATH,
  DOT_PATH,
  debugSessionDot,
  dotHash,
  SVG_PATH,
  vplcDot,
} from '../../scripts/draw-machines.js';

const REGENERATE = 'docs/vplc-machine.* are stale: run `npx tsx scripts/draw-machines.ts` and commit both files';

describe('vPLC machine diagram', () => {
  it('matches the machine definition (docs/vplc-machine.dot)', async () => {
    expect(await readFile(DOT_PATH, 'utf8'), REGENERATE).toBe(vplcDot());
  });

  it('was rendered from that DOT text (docs/vplc-machine.svg)', async () => {
    const svg = await readFile(SVG_PATH, 'utf8');
    expect(svg.includes(`<!-- dot-sha256: ${dotHash(vplcDot())} -->`), REGENERATE).toBe(true);
    expect(svg).toContain('<svg');
  });

  it('draws every state of the machine', () => {
    const dot = vplcDot();
    for (const state of [
      'creating.image',
      'rollingBack.networks',
      'restarting.backoff',
      'deleting.networks',
      'failed',
      'deleted',
    ]) {
      expect(dot).toContain(`"vplc.${state}"`);
    }
  });
});

describe('debug session machine diagram', () => {
  const stale = 'docs/debug-session-machine.* are stale: run `npx tsx scripts/draw-machines.ts` and commit both files';

  it('matches the machine definition and was rendered from it', async () => {
    expect(await readFile(DEBUG_DOT_PATH, 'utf8'), stale).toBe(debugSessionDot());
    const svg = await readFile(DEBUG_SVG_PATH, 'utf8');
    expect(svg.includes(`<!-- dot-sha256: ${dotHash(debugSessionDot())} -->`), stale).toBe(true);
  });

  it('draws every state of the machine', () => {
    for (const state of ['negotiating.answering', 'negotiating.connecting', 'connected', 'closing', 'closed']) {
      expect(debugSessionDot()).toContain(`"debugSession.${state}"`);
    }
  });
});
