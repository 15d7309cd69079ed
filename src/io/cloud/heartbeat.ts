import type { HostSample } from '../metrics/hostMetrics.js';
import { isoLocal } from '../../model/time.js';

/** The `heartbeat` event payload, field for field as the old agent's (GiB with one decimal, agent uptime in s). */
export interface HeartbeatPayload {
  agent_id: string;
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

export function heartbeatPayload(agentId: string, m: HeartbeatMetrics, now: Date = new Date()): HeartbeatPayload {
  return {
    agent_id: agentId,
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
