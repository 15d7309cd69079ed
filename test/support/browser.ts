import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';

/**
 * Debian's chromium, headless, driven by playwright-core, with the network cut: every request a page makes that
 * does not go to 127.0.0.1 is aborted and recorded, so a test can fail on it (`offHost`).
 */
export const CHROMIUM = '/usr/bin/chromium';

export interface TestBrowser {
  page: Page;
  /** URLs the page asked for that leave 127.0.0.1 (each was aborted). */
  offHost: string[];
  close(): Promise<void>;
}

export async function openBrowser(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'i15-chromium-'));
  // A fresh profile each time (playwright passes it as --user-data-dir).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1500, height: 950 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const offHost: string[] = [];
  await context.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname === '127.0.0.1') {
      await route.continue();
      return;
    }
    // data: URLs never reach the router; anything else leaves the host.
    offHost.push(url.href);
    await route.abort('blockedbyclient');
  });
  const page = await context.newPage();
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.protocol !== 'data:' && url.hostname !== '127.0.0.1' && !offHost.includes(url.href)) offHost.push(url.href);
  });
  return {
    page,
    offHost,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
