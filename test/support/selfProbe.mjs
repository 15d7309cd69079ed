// Runs inside a container (see test/integration/hh-self-detection.test.ts): the built agent's self-detection, as
// the agent's own container would run it, printed as one JSON line.
import pino from 'pino';
import { DockerEngine } from '../../dist/src/io/docker/engine.js';

const engine = new DockerEngine({
  address: { socketPath: '/var/run/docker.sock' },
  log: pino({ level: 'silent' }),
  hostname: process.env.HOSTNAME ?? null,
});
const self = await engine.findSelf();
process.stdout.write(`${JSON.stringify({ self })}\n`);
