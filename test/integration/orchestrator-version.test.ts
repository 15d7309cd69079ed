import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SidecarReply } from '../../sidecar/src/protocol.js';
import { type RunningSidecar, startSidecar } from '../../sidecar/src/sidecar.js';
import { TestClient } from '../../sidecar/test/client.js';
import { orchestratorVersions } from '../../src/actors/orchestrator/versions.js';
import { validateRequest } from '../../src/io/cloud/validation.js';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureStandinImage } from '../support/runtimeImage.js';

/**
 * get_orchestrator_version on the real engine and a real sidecar over its socket: the sidecar's own report first,
 * its container's AGENT_VERSION (the old agent's only source) next, `unknown` last; the image id of the agent's own
 * container. Containers here start with `i11a`.
 */
const docker = await dockerOrSkip();
const log = pino({ level: 'silent' });
const SOCKET = '/var/run/docker.sock';
const NETMON = 'i11a-netmon';
const SELF = 'i11a-self';

describe.skipIf(!docker)('get_orchestrator_version', () => {
  const api = new Docker({ socketPath: SOCKET });
  let dir: string;
  let sidecar: RunningSidecar;
  let client: TestClient;
  let selfImageId: string;
  const remove = async () => {
    for (const name of [NETMON, SELF])
      await api
        .getContainer(name)
        .remove({ force: true })
        .catch(() => undefined);
  };
  const notConnected = {
    request: async (): Promise<SidecarReply> => {
      throw new Error('the network monitor sidecar (autonomy_netmon) is not connected');
    },
  };

  beforeAll(async () => {
    await remove();
    const image = await ensureStandinImage(SOCKET);
    for (const [name, env] of [
      [NETMON, ['AGENT_VERSION=v1.2.6', 'OTHER=x']],
      [SELF, []],
    ] as const) {
      const c = await api.createContainer({ name, Image: image, Env: [...env], HostConfig: { NetworkMode: 'none' } });
      await c.start();
    }
    selfImageId = (await api.getContainer(SELF).inspect()).Image;
    dir = await mkdtemp(join(tmpdir(), 'i11a-version-'));
    sidecar = await startSidecar({
      socketPath: join(dir, 'netmon.sock'),
      dataDir: join(dir, 'data'),
      log,
      sysRoot: join(dir, 'no-sys'),
      version: 'v7.7.7-sidecar',
    });
    client = await TestClient.connect(join(dir, 'netmon.sock'));
  }, 300_000);

  afterAll(async () => {
    await client?.close();
    await sidecar?.close();
    await remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('takes the base fields only, like every read-only topic', () => {
    expect(validateRequest('get_orchestrator_version', { correlation_id: 21 }).ok).toBe(true);
    expect(validateRequest('get_orchestrator_version', { correlation_id: '21' })).toEqual({
      ok: false,
      error: 'Invalid field type: correlation_id: Value must be a number.',
    });
  });

  it("answers the sidecar's own version and the image id of the agent's container", async () => {
    const engine = new DockerEngine({ address: { socketPath: SOCKET }, log, selfContainer: SELF });
    const sidecarLink = { request: (command: object) => client.request(command as never) as Promise<SidecarReply> };
    expect(
      await orchestratorVersions({ version: '0.1.0', sidecar: sidecarLink, engine, log, netmonContainer: NETMON }),
    ).toEqual({
      status: 'success',
      orchestrator_version: '0.1.0',
      netmon_version: 'v7.7.7-sidecar',
      orchestrator_image_id: selfImageId,
    });
    expect(selfImageId).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("falls back to the AGENT_VERSION of the sidecar's container when the sidecar does not answer", async () => {
    const engine = new DockerEngine({ address: { socketPath: SOCKET }, log, selfContainer: SELF });
    const reply = await orchestratorVersions({
      version: 'v0.2.0',
      sidecar: notConnected,
      engine,
      log,
      netmonContainer: NETMON,
    });
    expect(reply).toMatchObject({ netmon_version: 'v1.2.6', orchestrator_image_id: selfImageId });
  });

  it('answers unknown for what it cannot find, and never fails', async () => {
    const engine = new DockerEngine({ address: { socketPath: SOCKET }, log, selfContainer: null });
    expect(
      await orchestratorVersions({
        version: '0.1.0',
        sidecar: notConnected,
        engine,
        log,
        netmonContainer: 'i11a-none',
      }),
    ).toEqual({
      status: 'success',
      orchestrator_version: '0.1.0',
      netmon_version: 'unknown',
      orchestrator_image_id: 'unknown',
    });
    const gone = new DockerEngine({ address: { socketPath: '/nonexistent/i11a.sock' }, log, selfContainer: SELF });
    expect(
      await orchestratorVersions({
        version: '0.1.0',
        sidecar: notConnected,
        engine: gone,
        log,
        netmonContainer: NETMON,
      }),
    ).toEqual({
      status: 'success',
      orchestrator_version: '0.1.0',
      netmon_version: 'unknown',
      orchestrator_image_id: 'unknown',
    });
  });
});
