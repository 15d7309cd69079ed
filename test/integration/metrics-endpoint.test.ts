import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOrSkip } from '../support/docker.js';
import { type LocalAgent, startLocalAgent } from '../support/localAgent.js';
import { parseSamples, promtoolCheck, type Sample, sampleValue } from '../support/promText.js';
import { waitFor } from '../support/wait.js';

/**
 * `/metrics` of the whole agent (local mode, real dockerd, requests over the real mTLS link) while a vPLC goes
 * through create → stop → start → a crash → delete: the values move with it, and every scrape passes Debian's
 * `promtool check metrics`.
 */
const sh = promisify(execFile);
const docker = await dockerOrSkip();
const NAME = 'i15m-plc';

describe.skipIf(!docker)('the metrics endpoint', () => {
  let local: LocalAgent;
  let url: string;

  const scrape = async (): Promise<{ text: string; samples: Sample[] }> => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await res.text();
    const check = await promtoolCheck(text);
    expect(check, `promtool check metrics:\n${check.output}`).toEqual({ code: 0, output: '' });
    return { text, samples: parseSamples(text) };
  };
  // On a shared engine the agent also adopts other tests' runtimes, whose states change while this runs: the others
  // in `state` are counted from the same scrape's per-vPLC series and taken out, which also checks that the two
  // series agree.
  const vplcs = (samples: Sample[], state: string) =>
    (sampleValue(samples, 'orchestrator_vplcs', { state }) ?? 0) -
    samples.filter(
      (s) => s.name === 'orchestrator_vplc_state_seconds' && s.labels.state === state && s.labels.vplc !== NAME,
    ).length;

  beforeAll(async () => {
    local = await startLocalAgent({ prefix: 'i15m', subnet: 151, flags: ['--metrics', '127.0.0.1:0'] });
    url = local.agent.metricsUrl!;
  }, 180_000);

  afterAll(async () => {
    await local?.stop();
  }, 60_000);

  it('listens on loopback and answers only GET /metrics', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await fetch(url.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    const { samples } = await scrape();
    for (const state of ['creating', 'running', 'stopped', 'failed']) {
      expect(sampleValue(samples, 'orchestrator_vplcs', { state })).toBeGreaterThanOrEqual(0);
    }
    expect(sampleValue(samples, 'orchestrator_link_up', { link: 'cloud' })).toBe(1);
    expect(sampleValue(samples, 'orchestrator_link_state', { link: 'sidecar', state: 'online' })).toBe(0);
    expect(sampleValue(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sampleValue(samples, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('counts a create: one vPLC running, its request, the Docker calls and a full budget', async () => {
    const before = (await scrape()).samples;
    const calls = (samples: Sample[], call: string) =>
      sampleValue(samples, 'orchestrator_docker_call_duration_seconds_count', { call }) ?? 0;
    const reply = await local.ask('create_new_runtime', local.createPayload(NAME, 50));
    expect(reply.status, JSON.stringify(reply)).toBe('creating');
    await local.waitPhase(NAME, 'running');
    const { samples } = await scrape();
    expect(vplcs(samples, 'running')).toBe(1);
    expect(sampleValue(samples, 'orchestrator_cloud_requests_total', { topic: 'create_new_runtime' })).toBe(1);
    expect(sampleValue(samples, 'orchestrator_cloud_request_errors_total', { topic: 'create_new_runtime' })).toBe(0);
    expect(
      sampleValue(samples, 'orchestrator_cloud_request_duration_seconds_count', { topic: 'create_new_runtime' }),
    ).toBe(1);
    // At least ours (a runtime of another test the agent adopted may be restarted meanwhile).
    expect(calls(samples, 'container.create')).toBeGreaterThanOrEqual(calls(before, 'container.create') + 1);
    expect(calls(samples, 'container.start')).toBeGreaterThanOrEqual(calls(before, 'container.start') + 1);
    expect(sampleValue(samples, 'orchestrator_vplc_restarts_total', { vplc: NAME })).toBe(0);
    expect(sampleValue(samples, 'orchestrator_vplc_restart_budget_remaining', { vplc: NAME })).toBe(4);
    expect(
      sampleValue(samples, 'orchestrator_vplc_state_seconds', { vplc: NAME, state: 'running' }),
    ).toBeGreaterThanOrEqual(0);
    expect(sampleValue(samples, 'orchestrator_vplc_state_duration_seconds_count', { state: 'creating' })).toBe(1);
  }, 120_000);

  it('follows stop and start', async () => {
    expect((await local.ask('stop_device', { device_id: NAME })).status).not.toBe('error');
    await local.waitPhase(NAME, 'stopped');
    let { samples } = await scrape();
    expect(vplcs(samples, 'running')).toBe(0);
    expect(vplcs(samples, 'stopped')).toBe(1);
    expect(
      sampleValue(samples, 'orchestrator_vplc_state_seconds', { vplc: NAME, state: 'stopped' }),
    ).toBeGreaterThanOrEqual(0);
    expect(sampleValue(samples, 'orchestrator_vplc_state_seconds', { vplc: NAME, state: 'running' })).toBeUndefined();
    expect(sampleValue(samples, 'orchestrator_vplc_state_duration_seconds_count', { state: 'running' })).toBe(1);
    expect(sampleValue(samples, 'orchestrator_cloud_requests_total', { topic: 'stop_device' })).toBe(1);

    expect((await local.ask('start_device', { device_id: NAME })).status).not.toBe('error');
    await local.waitPhase(NAME, 'running');
    ({ samples } = await scrape());
    expect(vplcs(samples, 'running')).toBe(1);
    expect(vplcs(samples, 'stopped')).toBe(0);
    expect(sampleValue(samples, 'orchestrator_vplc_state_duration_seconds_count', { state: 'stopped' })).toBe(1);
  }, 120_000);

  it('counts a crash the watchdog restarts, and the budget it used', async () => {
    await sh('/usr/bin/docker', ['kill', NAME]);
    await waitFor(() => (local.agent.supervisor.status(NAME)?.restartCount ?? 0) > 0, {
      timeoutMs: 30_000,
      message: 'the watchdog restart',
    });
    await local.waitPhase(NAME, 'running');
    const { samples } = await scrape();
    expect(sampleValue(samples, 'orchestrator_vplc_restarts_total', { vplc: NAME })).toBe(1);
    expect(sampleValue(samples, 'orchestrator_vplc_restart_budget_remaining', { vplc: NAME })).toBe(3);
  }, 60_000);

  it('counts refused requests as errors and unknown topics under one label', async () => {
    await local.ask('start_device', { device_id: 'i15m-nobody' });
    await local.ask('i15m-made-up-topic-1', {});
    await local.ask('i15m-made-up-topic-2', {});
    const { samples } = await scrape();
    expect(sampleValue(samples, 'orchestrator_cloud_request_errors_total', { topic: 'start_device' })).toBe(1);
    expect(sampleValue(samples, 'orchestrator_cloud_requests_total', { topic: 'other' })).toBe(2);
    expect(sampleValue(samples, 'orchestrator_cloud_request_errors_total', { topic: 'other' })).toBe(2);
    expect(samples.filter((s) => Object.values(s.labels).some((v) => /^i15m-(made|nobody)/.test(v)))).toEqual([]);
  });

  it('drops the vPLC from every series once it is deleted', async () => {
    expect((await local.ask('delete_device', { device_id: NAME })).status).not.toBe('error');
    await local.waitPhase(NAME, 'deleted');
    const { samples } = await scrape();
    for (const state of ['creating', 'running', 'stopped', 'failed', 'deleting']) expect(vplcs(samples, state)).toBe(0);
    expect(samples.filter((s) => s.labels.vplc === NAME)).toEqual([]);
    expect(
      sampleValue(samples, 'orchestrator_docker_call_duration_seconds_count', { call: 'container.remove' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, 'orchestrator_cloud_requests_total', { topic: 'delete_device' })).toBe(1);
  }, 60_000);
});
