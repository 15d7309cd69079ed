import type { InterfaceInfo } from '../../../../sidecar/src/protocol.js';
import type {
  GetConsumptionDeviceRequest,
  GetConsumptionDeviceResult,
  GetConsumptionOrchestratorRequest,
  GetConsumptionOrchestratorResult,
} from '../../../io/cloud/topics/index.js';
import type { StaticHostInfo } from '../../../io/metrics/hostMetrics.js';
import { parsePeriod } from '../../../io/metrics/period.js';
import type { UsageBuffer } from '../../../io/metrics/usageBuffer.js';
import type { ObservedContainer } from '../../vplc/containerWatch.js';

/** Interface name prefixes that are not the host's own networks (the old agent's list, kept as it was). */
export const VIRTUAL_PREFIXES = [
  'lo',
  'docker',
  'br-',
  'veth',
  'virbr',
  'tailscale',
  'zt',
  'cni',
  'flannel',
  'kube-ipvs',
  'wg',
  'cilium',
  'macvtap',
];

export function isVirtualInterface(name: string): boolean {
  const lower = name.toLowerCase();
  return VIRTUAL_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

function series(buffer: UsageBuffer | undefined, cpuPeriod: string, memoryPeriod: string, nowSec: number) {
  // The two series of one request use independently parsed periods, as in the old agent.
  const cpu = parsePeriod(cpuPeriod, nowSec);
  const memory = parsePeriod(memoryPeriod, nowSec);
  return {
    cpu_usage: buffer ? buffer.query(cpu.start, cpu.end).cpu : [],
    memory_usage: buffer ? buffer.query(memory.start, memory.end).memory : [],
  };
}

/** get_consumption_device: a vPLC's resource limits and usage history (docs/protocol.md#get_consumption_device). */
export function consumptionDevice(
  req: GetConsumptionDeviceRequest,
  known: boolean,
  observed: ObservedContainer | undefined,
  buffer: UsageBuffer | undefined,
  nowSec: number,
): GetConsumptionDeviceResult {
  if (!known) return { status: 'error', error: `Device ${req.device_id} not found` };
  return {
    device_id: req.device_id,
    memory: observed ? memoryLimit(observed.memoryLimitBytes) : 'N/A',
    cpu: observed ? cpuLimit(observed) : 'N/A',
    ...series(buffer, req.cpuPeriod, req.memoryPeriod, nowSec),
  };
}

function memoryLimit(bytes: number): string {
  return bytes > 0 ? `${Math.trunc(bytes / 1_048_576)} MB` : 'unlimited';
}

function cpuLimit(limits: Pick<ObservedContainer, 'nanoCpus' | 'cpuQuota' | 'cpuPeriod'>): string {
  if (limits.nanoCpus > 0) return `${(limits.nanoCpus / 1e9).toFixed(1)} vCPU`;
  if (limits.cpuQuota > 0 && limits.cpuPeriod > 0) return `${(limits.cpuQuota / limits.cpuPeriod).toFixed(1)} vCPU`;
  return 'unlimited';
}

/** get_consumption_orchestrator: host facts and the host's usage history. */
export function consumptionOrchestrator(
  req: GetConsumptionOrchestratorRequest,
  info: StaticHostInfo,
  interfaces: InterfaceInfo[],
  buffer: UsageBuffer,
  nowSec: number,
): GetConsumptionOrchestratorResult {
  const ip_addresses: Array<{ interface: string; ip_address: string }> = [];
  for (const iface of interfaces) {
    if (isVirtualInterface(iface.interface)) continue;
    for (const address of iface.ipv4_addresses) {
      if (!address.address.startsWith('127.'))
        ip_addresses.push({ interface: iface.interface, ip_address: address.address });
    }
  }
  return {
    ip_addresses,
    memory: info.memoryMb,
    cpu: info.cpuCount,
    os: info.os,
    kernel: info.kernel,
    disk: info.diskGb,
    ...series(buffer, req.cpuPeriod, req.memoryPeriod, nowSec),
  };
}
