import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DOT_PATH, dotHash, SVG_PATH, vplcDot } from '../../scripts/draw-machines.js';

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
