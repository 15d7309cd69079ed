import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { type Agent, startAgent } from '../../src/actors/agent.js';
import { parseConfig } from '../../src/config.js';
import { connectCtl, type CtlConnection } from '../../src/io/local/ctlClient.js';
import { readEndpointFile } from '../../src/io/local/endpointFile.js';
import { ensureVeth, removeTestObjects, removeVeth } from './engines.js';
import { ensureStandinImage } from './runtimeImage.js';
import { waitFor } from './wait.js';

/**
 * The whole agent in this process, in local mode on the real dockerd, with the extra flags a test gives
 * (`--inspect`, `--metrics`), and a ctl connection to its embedded endpoint: requests travel the real mTLS
 * Socket.IO link and the real topic router, exactly as the cloud's would.
 *
 * Everything it makes carries `prefix`: the vPLC names, the MACVLAN parent veth pair (`<prefix>p0`/`<prefix>q0`)
 * and the data folder; `stop` removes all of it.
 */
export interface LocalAgent {
  agent: Agent;
  /** Sends a topic (a correlation id is added) and resolves with the reply. */
  ask(topic: string, payload: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** A create_new_runtime payload for `name` on the test parent, with a static address from the test subnet. */
  createPayload(name: string, host: number): Record<string, unknown>;
  /** Waits until the vPLC's status has `phase` (or it is gone, for `deleted`). */
  waitPhase(name: string, phase: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startLocalAgent(opts: {
  prefix: string;
  /** Third octet of 10.215.X.0/24, the test parent's subnet (one per test file). */
  subnet: number;
  flags: string[];
}): Promise<LocalAgent> {
  const { prefix } = opts;
  const parent = `${prefix}p0`;
  const image = await ensureStandinImage();
  await removeTestObjects('/var/run/docker.sock', prefix, [prefix, `macvlan_${parent}_`]);
  await ensureVeth(parent, `${prefix}q0`);
  const dataDir = await mkdtemp(join(tmpdir(), `${prefix}-agent-`));
  const config = await parseConfig(
    [
      '--local',
      '--data-dir',
      dataDir,
      '--runtime-image',
      image,
      '--runtime-ulimits',
      'none',
      '--parent-interfaces',
      parent,
      '--netmon-socket',
      join(dataDir, 'no-sidecar.sock'),
      // Internal networks from a range of this test's own: other tests share the engine.
      '--internal-subnet-pool',
      `10.216.${opts.subnet}.0/24`,
      ...opts.flags,
    ],
    { DOCKER_HOST: 'unix:///var/run/docker.sock' },
  );
  const agent = await startAgent(config, pino({ level: 'silent' }));
  let conn: CtlConnection | undefined;
  try {
    const endpoint = await readEndpointFile(join(dataDir, 'local', 'endpoint.json'));
    const [cert, key, ca] = await Promise.all(
      [endpoint.cert_file, endpoint.key_file, endpoint.ca_file].map((f) => readFile(f, 'utf8')),
    );
    conn = await connectCtl({ url: endpoint.url, cert: cert!, key: key!, ca: ca! });
    await agent.cloud.whenOnline();
  } catch (err) {
    await agent.stop();
    throw err;
  }
  const connection = conn;
  let correlation = 5000;
  const ask = async (topic: string, payload: Record<string, unknown>, timeoutMs = 30_000) =>
    (await connection.request(topic, { correlation_id: correlation++, ...payload }, timeoutMs)) as Record<
      string,
      unknown
    >;
  return {
    agent,
    ask,
    createPayload: (name, host) => ({
      container_name: name,
      vnic_configs: [
        {
          name: 'eth0',
          parent_interface: parent,
          network_mode: 'static',
          ip: `10.215.${opts.subnet}.${host}`,
          subnet: `10.215.${opts.subnet}.0/24`,
          gateway: `10.215.${opts.subnet}.1`,
        },
      ],
    }),
    waitPhase: async (name, phase, timeoutMs = 60_000) => {
      await waitFor(
        () =>
          phase === 'deleted'
            ? agent.supervisor.status(name) === undefined
            : agent.supervisor.status(name)?.phase === phase,
        { timeoutMs, message: `${name} in ${phase} (now ${agent.supervisor.status(name)?.state ?? 'gone'})` },
      );
    },
    stop: async () => {
      connection.close();
      await agent.stop();
      await removeTestObjects('/var/run/docker.sock', prefix, [prefix, `macvlan_${parent}_`]);
      await removeVeth(parent);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
