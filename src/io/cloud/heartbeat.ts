import Type, { type Static } from 'typebox';
import type { HostSample } from '../metrics/hostMetrics.js';
import { isoLocal } from '../../model/time.js';
import { NonEmptyString } from './topics/base.js';

/**
 * The `heartbeat` event as the old agent's newest releases send it (docs/protocol.md#heartbeat), key by key in their
 * order: the contract tests check every payload the agent builds against it.
 */
export const HeartbeatEvent = Type.Object({
  agent_id: Type.String(),
  agent_version: NonEmptyString({
    description: 'This build: AGENT_VERSION when the image stamps it, else package.json.',
  }),
  cpu_usage: Type.Number(),
  memory_usage: Type.Number(),
  memory_total: Type.Number(),
  disk_usage: Type.Number(),
  disk_total: Type.Number(),
  uptime: Type.Integer(),
  status: Type.Literal('active'),
  timestamp: Type.String(),
});
export type HeartbeatEvent = Static<typeof HeartbeatEvent>;

/**
 * The `heartbeat` event payload, field for field as the old agent's newest releases send it (GiB with one decimal,
 * agent uptime in s), `agent_version` in second place.
 */
export interface HeartbeatPayload {
  agent_id: string;
  /** This build's version (src/version.ts): `AGENT_VERSION` when the image stamps it, else package.json. */
  agent_version: string;
  cpu_usage: number;
  memory_usage: number;
  memory_total: number;
  disk_usage: number;
  disk_total: number;
  uptime: number;
  status: 'active';
  timestamp: string;
}

export type HeartbeatMetrics = Pick<
  HostSample,
  'cpuPercent' | 'memoryUsedGiB' | 'memoryTotalGiB' | 'diskUsedGiB' | 'diskTotalGiB' | 'uptimeSeconds'
>;

export const HEARTBEAT_EVENT = 'heartbeat';
export const HEARTBEAT_INTERVAL_MS = 5_000;

export function heartbeatPayload(
  agent: { id: string; version: string },
  m: HeartbeatMetrics,
  now: Date = new Date(),
): HeartbeatPayload {
  return {
    agent_id: agent.id,
    agent_version: agent.version,
    cpu_usage: oneDecimal(m.cpuPercent),
    memory_usage: oneDecimal(m.memoryUsedGiB),
    memory_total: oneDecimal(m.memoryTotalGiB),
    disk_usage: oneDecimal(m.diskUsedGiB),
    disk_total: oneDecimal(m.diskTotalGiB),
    uptime: Math.floor(m.uptimeSeconds),
    status: 'active',
    timestamp: isoLocal(now),
  };
}

function oneDecimal(value: number): number {
  return Math.round(value * 10) / 10;
}
