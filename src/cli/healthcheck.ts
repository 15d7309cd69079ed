#!/usr/bin/env node
/**
 * The agent image's HEALTHCHECK: healthy while the agent's liveness beat (src/io/host/liveness.ts) is fresh.
 * Kept apart from main.ts so that a check every 15 s loads two small modules, not the whole agent.
 */
import { stat } from 'node:fs/promises';
import { LIVENESS_FILE, STALE_MS } from '../io/host/liveness.js';

try {
  const age = Date.now() - (await stat(LIVENESS_FILE)).mtimeMs;
  if (age > STALE_MS) {
    process.stderr.write(`unhealthy: the agent's last liveness beat is ${Math.round(age / 1000)} s old\n`);
    process.exit(1);
  }
  process.stdout.write(`healthy: liveness beat ${Math.round(age / 1000)} s ago\n`);
} catch {
  process.stderr.write(`unhealthy: no liveness beat at ${LIVENESS_FILE} (the agent has not started, or stopped)\n`);
  process.exit(1);
}
