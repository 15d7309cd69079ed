import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgentProcess } from '../support/agentProcess.js';
import { openBrowser, type TestBrowser } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

/**
 * The built agent (`node dist/src/main.js`, as the README and the image start it) serves the inspector's page, its
 * scripts and the diagram renderer from what `npm run build` ships: the page's files copied into dist/, and
 * @viz-js/viz from the production node_modules. The page, in chromium with the network cut, draws the machines.
 * The agent runs with the arguments of `npm run dev` (the README's `# dev` command), so on the default
 * 127.0.0.1:8642, plus --metrics. No Docker engine: the agent starts without one, and nothing here touches the
 * shared engines.
 */
const root = new URL('../..', import.meta.url).pathname;

/** The agent's arguments in `npm run dev`, which the README gives as the way to start the inspector. */
async function devArguments(): Promise<string[]> {
  const readme = await readFile(`${root}README.md`, 'utf8');
  const line = readme.split('\n').find((l) => l.trimEnd().endsWith('# dev'));
  expect(line?.slice(0, line.lastIndexOf('#')).trim()).toBe('npm ci && npm run dev');
  const { scripts } = JSON.parse(await readFile(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> };
  const [build, run] = scripts.dev!.split(' && ');
  expect(build).toBe('npm run build --silent');
  expect(run).toMatch(/^node dist\/src\/main\.js /);
  return run!.split(' ').slice(2);
}
describe('the built agent with --inspect and --metrics', () => {
  let agent: AgentProcess;
  let home: string;
  let browser: TestBrowser;
  let inspector: string;
  let metrics: string;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'i15b-home-'));
    agent = await startAgentProcess(
      [...(await devArguments()), '--metrics', '127.0.0.1:0', '--netmon-socket', join(home, 'none.sock')],
      { HOME: home, DOCKER_HOST: 'unix:///nonexistent/i15b-docker.sock' },
    );
    // main.ts prints both addresses for the person at the terminal.
    const urls = await waitFor(
      () => {
        const i = /^inspector {2}(http:\/\/127\.0\.0\.1:\d+)\/$/m.exec(agent.output());
        const m = /^metrics {4}(http:\/\/127\.0\.0\.1:\d+\/metrics)$/m.exec(agent.output());
        return i && m && { inspector: i[1]!, metrics: m[1]! };
      },
      { timeoutMs: 60_000, message: 'the agent to print the inspector and metrics addresses' },
    );
    inspector = urls.inspector;
    expect(inspector).toBe('http://127.0.0.1:8642');
    metrics = urls.metrics;
    browser = await openBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  }, 60_000);

  it('serves the page, its assets and Graphviz from the build', async () => {
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/assets/app.js', 'text/javascript'],
      ['/assets/app.css', 'text/css'],
      ['/vendor/viz.js', 'text/javascript'],
    ] as const) {
      const res = await fetch(`${inspector}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toContain(type);
      expect((await res.arrayBuffer()).byteLength, path).toBeGreaterThan(500);
    }
    const diagrams = (await (await fetch(`${inspector}/api/diagrams`)).json()) as Record<string, string>;
    expect(Object.keys(diagrams).sort()).toEqual(['link', 'supervisor', 'vplc']);
  });

  it('draws the machines in the page with the network cut', async () => {
    await browser.page.goto(`${inspector}/`);
    await browser.page.waitForSelector('body[data-diagrams="ready"]', { timeout: 60_000 });
    await browser.page.click('#actors li[data-actor="cloud"]');
    await browser.page.waitForSelector('#diagram svg g.node.active', { timeout: 30_000 });
    expect(await browser.page.getAttribute('#diagram', 'data-machine')).toBe('link');
    expect(browser.offHost).toEqual([]);
  }, 90_000);

  it('serves /metrics', async () => {
    const res = await fetch(metrics);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^orchestrator_link_up\{link="cloud"\} 1$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });
});
