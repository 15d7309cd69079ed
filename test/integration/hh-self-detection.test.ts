import { access, realpath } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerEngine } from '../../src/io/docker/engine.js';
import { ensureBuilt } from '../support/agentProcess.js';
import { removeTestObjects, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';

/**
 * The agent finds its own container by what the kernel says about its process, never by a label any container can
 * carry: self-destruct removes the container found here. The built agent's detection runs inside a real container
 * (the stand-in image has node) with the engine's socket mounted, next to a decoy that carries the agent's label.
 *
 * The decoy runs only on the second engine, and briefly: on the shared main engine other agents running on the host
 * (other test runs) would find it by its label.
 */
const engines = await testEngines();
const log = pino({ level: 'silent' });
const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const PROBE = fileURLToPath(new URL('../support/selfProbe.mjs', import.meta.url));
const AGENT_LABEL = { 'edge.autonomy.role': 'orchestrator-agent' };

describe.each(engines)('on Docker $label (API $apiVersion)', (target) => {
  const docker = new Docker({ socketPath: target.socketPath });
  const tag = `hh${target.label.replace('.', '')}-self`;
  let image: string;
  /** The checkout and its node_modules (a link to a shared install on some machines), mounted where they are. */
  let binds: string[];

  beforeAll(async () => {
    await ensureBuilt();
    await access(PROBE);
    await removeTestObjects(target.socketPath, tag, []);
    image = await ensureStandinImage(target.socketPath);
    const modules = await realpath(`${ROOT}/node_modules`);
    binds = [...new Set([ROOT, modules])].map((dir) => `${dir}:${dir}:ro`);
  }, 300_000);

  afterAll(async () => {
    await removeTestObjects(target.socketPath, tag, []);
  }, 60_000);

  /**
   * Runs the probe in a new container and returns what it found, with the container's own id. `beforeStart` runs
   * between create and start (to make a container that is newer than the probe's).
   */
  async function probe(
    name: string,
    extra: Partial<Docker.ContainerCreateOptions> = {},
    beforeStart: () => Promise<unknown> = async () => {},
  ) {
    const container = await docker.createContainer({
      name,
      Image: image,
      Cmd: ['node', PROBE],
      Labels: AGENT_LABEL,
      ...extra,
      HostConfig: {
        NetworkMode: 'none',
        Binds: [...binds, `${target.socketPath}:/var/run/docker.sock`],
      },
    });
    await beforeStart();
    await container.start();
    await container.wait();
    const output = (await container.logs({ stdout: true, stderr: true })).toString('utf8');
    const line = output.split('\n').find((l) => l.includes('{"self"'));
    if (!line) throw new Error(`the probe printed no result: ${output}`);
    return {
      id: container.id,
      found: (JSON.parse(line.slice(line.indexOf('{'))) as { self: { id: string } | null }).self,
    };
  }

  it('finds its own container from inside it, also when its host name is not its id', async () => {
    const plain = await probe(`${tag}-a`);
    expect(plain.found?.id).toBe(plain.id);
    const named = await probe(`${tag}-b`, { Hostname: 'plc-gateway' });
    expect(named.found?.id).toBe(named.id);
  }, 120_000);

  it.runIf(target.label === '26')(
    'is not fooled by another running container that carries the agent label',
    async () => {
      // The decoy is newer than the agent's container, so a "first container with the label" is the decoy.
      const decoy = await docker.createContainer({
        name: `${tag}-decoy`,
        Image: image,
        Cmd: ['sleep', '120'],
        Labels: AGENT_LABEL,
        HostConfig: { NetworkMode: 'none' },
      });
      try {
        const result = await probe(`${tag}-c`, {}, () => decoy.start());
        expect(result.found?.id).toBe(result.id);
        // And a process on the host (this test) has no container at all, whatever carries the label.
        const onHost = new DockerEngine({ address: { socketPath: target.socketPath }, log, hostname: 'buildhost' });
        expect(await onHost.findSelf()).toBeNull();
      } finally {
        await decoy.remove({ force: true });
      }
    },
    120_000,
  );
});
