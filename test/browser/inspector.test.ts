import { mkdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser, type TestBrowser } from '../support/browser.js';
import { dockerOrSkip } from '../support/docker.js';
import { type LocalAgent, startLocalAgent } from '../support/localAgent.js';

/**
 * The inspector page in Debian's chromium while the whole agent (local mode, real dockerd, requests over the real
 * mTLS link) drives a vPLC through create → stop → start → delete: the diagram's highlighted state follows each
 * step, the event log shows them, the timeline keeps them, and the page never asks for anything off this host.
 * Screenshots are kept in .tmp/ (docs/inspector.png is one of them).
 */
const docker = await dockerOrSkip();
const NAME = 'i15i-plc';
const ACTOR = `vplc:${NAME}`;
interface PageDocument {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
}
const SHOTS = new URL('../../.tmp/', import.meta.url).pathname;

describe.skipIf(!docker)('the inspector page', () => {
  let local: LocalAgent;
  let browser: TestBrowser;
  let url: string;

  /** The ids the diagram highlights, as its SVG titles name them. */
  const highlighted = () =>
    browser.page.$$eval('#diagram g.active > title', (titles) => titles.map((t) => t.textContent ?? '').sort());
  const waitHighlighted = async (state: string, machine = 'vplc') => {
    // Runs in the page, whose CSP forbids evaluating strings; this program has no DOM types, hence the cast.
    await browser.page.waitForFunction(
      (id: string) => {
        const { document } = globalThis as unknown as { document: PageDocument };
        return Array.from(document.querySelectorAll('#diagram g.node.active > title')).some(
          (t) => t.textContent === id,
        );
      },
      `${machine}.${state}`,
      { timeout: 60_000 },
    );
  };
  const logLines = (actor: string) =>
    browser.page.$$eval(`#log li[data-actor="${actor}"] .what`, (rows) => rows.map((r) => r.textContent ?? ''));
  const shot = (name: string) => browser.page.screenshot({ path: `${SHOTS}${name}.png` });

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    local = await startLocalAgent({ prefix: 'i15i', subnet: 152, flags: ['--inspect', '127.0.0.1:0'] });
    url = `${local.agent.inspectorUrl!}/`;
    browser = await openBrowser();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await local?.stop();
  }, 60_000);

  it('loads with the network blocked and lists every live actor', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    await browser.page.goto(url);
    await browser.page.waitForSelector('body[data-diagrams="ready"]', { timeout: 30_000 });
    await browser.page.waitForSelector('#connection[data-state="live"]');
    const actors = await browser.page.$$eval('#actors li', (items) => items.map((i) => i.getAttribute('data-actor')));
    // On a shared engine the agent also adopts other tests' runtimes: those are vPLC actors too.
    expect(actors.filter((a) => !a?.startsWith('vplc:'))).toEqual(['supervisor', 'cloud', 'sidecar']);
    // The supervisor's diagram is drawn with its state highlighted (boot reconciliation runs beside the link in
    // local mode, so it may still be reconciling at first).
    await browser.page.click('#actors li[data-actor="supervisor"]');
    expect(await browser.page.getAttribute('#diagram', 'data-machine')).toBe('supervisor');
    await waitHighlighted('serving', 'supervisor');
    expect(await highlighted()).toEqual(['supervisor.serving']);
    expect(browser.offHost).toEqual([]);
  }, 60_000);

  it('highlights each state of create → stop → start → delete and logs them', async () => {
    const create = await local.ask('create_new_runtime', local.createPayload(NAME, 60));
    expect(create.status, JSON.stringify(create)).toBe('creating');
    await browser.page.waitForSelector(`#actors li[data-actor="${ACTOR}"]`, { timeout: 30_000 });
    await browser.page.click(`#actors li[data-actor="${ACTOR}"]`);
    await waitHighlighted('running');
    expect(await browser.page.getAttribute('#diagram', 'data-machine')).toBe('vplc');
    expect(await highlighted()).toEqual(['vplc.running']);
    await shot('inspector-running');
    let log = await logLines(ACTOR);
    expect(log).toContain('(start) ⇒ creating.image');
    expect(log).toContain('creating.dhcp ⇒ running');
    expect(log.some((l) => /^step createContainer done in \d+ ms$/.test(l))).toBe(true);
    expect(log.some((l) => /^supervisor → vplc\.create|^step startContainer done/.test(l))).toBe(true);

    expect((await local.ask('stop_device', { device_id: NAME })).status).not.toBe('error');
    await waitHighlighted('stopped');
    expect(await highlighted()).toEqual(['vplc.stopped']);
    log = await logLines(ACTOR);
    expect(log).toContain('supervisor → STOP');
    expect(log.some((l) => /⇒ stopped$/.test(l))).toBe(true);
    await shot('inspector-stopped');

    expect((await local.ask('start_device', { device_id: NAME })).status).not.toBe('error');
    await waitHighlighted('running');
    log = await logLines(ACTOR);
    expect(log).toContain('supervisor → START');
    expect(log.filter((l) => /⇒ running$/.test(l)).length).toBe(2);

    // The timeline of this vPLC: each state with its duration, in order.
    const timeline = await browser.page.$$eval('#timeline tbody tr', (rows) =>
      rows.map((r) => r.getAttribute('data-state')),
    );
    const phases = timeline.map((s) => s!.split('.')[0]).filter((s, i, all) => s !== all[i - 1]);
    expect(phases).toEqual(['creating', 'running', 'stopping', 'stopped', 'starting', 'running']);
    await shot('inspector-timeline');

    expect((await local.ask('delete_device', { device_id: NAME })).status).not.toBe('error');
    await browser.page.waitForSelector(`#actors li[data-actor="${ACTOR}"]`, { state: 'detached', timeout: 60_000 });
    log = await logLines(ACTOR);
    expect(log).toContain('supervisor → DELETE');
    expect(log.some((l) => /⇒ deleting\./.test(l))).toBe(true);
    expect(browser.offHost).toEqual([]);
  }, 180_000);

  it('filters the event log per actor', async () => {
    await browser.page.selectOption('#log-filter', 'supervisor');
    const actors = await browser.page.$$eval('#log li', (rows) => [...new Set(rows.map((r) => r.dataset.actor))]);
    expect(actors).toEqual(['supervisor']);
    await browser.page.selectOption('#log-filter', '');
    const all = await browser.page.$$eval('#log li', (rows) => new Set(rows.map((r) => r.dataset.actor)).size);
    expect(all).toBeGreaterThan(1);
  });
});
