import type { Logger } from 'pino';
import type { TopicHandlers } from '../../../io/cloud/router.js';
import type { GetOrchestratorVersionResult } from '../../../io/cloud/topics/index.js';
import { UNKNOWN } from '../../orchestrator/versions.js';
import type { HostMetrics } from '../../../io/metrics/hostMetrics.js';
import type { UsageBuffer } from '../../../io/metrics/usageBuffer.js';
import type { RuntimeHttpProxy } from '../../../io/runtime-http/proxy.js';
import { DEBUG_API } from '../../../io/cloud/topics/index.js';
import type { HttpDebugSessions } from '../../debug/httpSessions.js';
import type { WebrtcSessions } from '../../debug/webrtcSessions.js';
import type { ContainerWatch } from '../../vplc/containerWatch.js';
import type { LeaseBook } from '../../network/leases.js';
import type { SelfDestruct } from '../../orchestrator/selfDestruct.js';
import type { Upgrade } from '../../orchestrator/upgrade.js';
import type { SerialPassthrough } from '../../serial/passthrough.js';
import type { SidecarLink } from '../../sidecar/link.js';
import type { RuntimeReadiness } from '../../vplc/readiness.js';
import type { Supervisor } from '../../vplc/supervisor.js';
import { splitImageReference } from '../../../model/names.js';
import { consumptionDevice, consumptionOrchestrator } from './consumption.js';
import { createNewRuntime, deleteDevice, deviceCommand, parentTypes } from './deviceLifecycle.js';
import { deviceStatus } from './deviceStatus.js';
import { hostInterfaces, serialDevices } from './hostDevices.js';
import {
  DEFAULT_RUN_COMMAND_MAX_CONCURRENT,
  DEFAULT_RUN_COMMAND_MAX_PER_VPLC,
  RunCommandGate,
  runCommand,
} from './runCommand.js';
import { runCommandDebug } from './runCommandDebug.js';

export interface TopicDeps {
  supervisor: Supervisor;
  watch: ContainerWatch;
  sidecar: SidecarLink;
  proxy: RuntimeHttpProxy;
  hostMetrics: HostMetrics;
  orchestratorUsage: UsageBuffer;
  leases: LeaseBook;
  /** Dedicated NICs by vPLC (dedicated_nics.json), for get_host_interfaces. */
  dedicatedNics?: () => ReadonlyMap<string, string>;
  selfDestruct: SelfDestruct;
  /** Absent where no upgrade can run (tests of other topics); upgrade_orchestrator then says so. */
  upgrade?: Upgrade;
  serial: SerialPassthrough;
  runCommandPorts: number[];
  /** The Docker engine's address as configured, for the sentence that says it cannot be reached. */
  engineAddress?: string;
  /** run_command requests in flight, per vPLC and in total (defaults 4 and 16). */
  runCommandLimits?: { perVplc: number; total: number };
  /** get_orchestrator_version (actors/orchestrator/versions.ts); absent: every value is `unknown`. */
  versions?: () => Promise<GetOrchestratorVersionResult>;
  /** `--runtime-image`: its tag is the runtime_version get_device_status shows for vPLCs created without one. */
  runtimeImage?: string;
  /** Whether each running vPLC's API answers (get_device_status `ready`; run_command waits for it). */
  readiness?: Pick<RuntimeReadiness, 'isReady' | 'whenReady'>;
  /** Remote debugging: run_command with api "debug", and the WebRTC sessions of the webrtc:* topics. */
  debug: { http: HttpDebugSessions; webrtc: WebrtcSessions };
  log: Logger;
  now?: () => Date;
}

/** Every cloud topic, turned into a message for the supervisor or answered from the agent's own state. */
export function createTopicHandlers(deps: TopicDeps): TopicHandlers {
  const now = deps.now ?? (() => new Date());
  const nowSec = () => Math.floor(now().getTime() / 1000);
  const defaultRuntimeVersion =
    deps.runtimeImage === undefined ? undefined : (splitImageReference(deps.runtimeImage).tag ?? undefined);
  const gate = new RunCommandGate(
    deps.runCommandLimits ?? { perVplc: DEFAULT_RUN_COMMAND_MAX_PER_VPLC, total: DEFAULT_RUN_COMMAND_MAX_CONCURRENT },
  );
  return {
    create_new_runtime: async (req) =>
      createNewRuntime(
        deps.supervisor,
        req,
        await parentTypes(
          deps.sidecar,
          (req.vnic_configs ?? []).map((v) => v.parent_interface),
        ),
      ),
    delete_device: async (req) => deleteDevice(deps.supervisor, req),
    start_device: async (req, ctx) => deviceCommand(deps.supervisor, 'start_device', req, ctx),
    stop_device: async (req, ctx) => deviceCommand(deps.supervisor, 'stop_device', req, ctx),
    restart_device: async (req, ctx) => deviceCommand(deps.supervisor, 'restart_device', req, ctx),
    delete_orchestrator: async () => deps.selfDestruct.begin(),
    upgrade_orchestrator: async () =>
      deps.upgrade?.begin() ?? { status: 'error', error: 'This agent cannot upgrade itself (no upgrade configured).' },
    get_device_status: async (req) => {
      const id = req.device_id;
      if (id === deps.selfDestruct.pseudoDeviceId)
        return (
          deps.selfDestruct.status() ?? deps.upgrade?.status() ?? deviceStatus(id, { ...noDevice(deps), now: now() })
        );
      return deviceStatus(id, {
        status: deps.supervisor.status(id),
        observed: deps.watch.observed(id),
        engineAvailable: deps.watch.engineAvailable(),
        engineAddress: deps.engineAddress,
        leases: deps.leases,
        serialPort: (port) => deps.serial.state(id, port.name),
        ready: deps.readiness?.isReady(id) ?? false,
        defaultRuntimeVersion,
        now: now(),
      });
    },
    get_consumption_device: async (req) =>
      consumptionDevice(
        req,
        deps.supervisor.status(req.device_id) !== undefined,
        deps.watch.observed(req.device_id),
        deps.watch.usage(req.device_id),
        nowSec(),
      ),
    get_consumption_orchestrator: async (req) =>
      consumptionOrchestrator(
        req,
        deps.hostMetrics.staticInfo(),
        deps.sidecar.interfaceList(),
        deps.orchestratorUsage,
        nowSec(),
      ),
    get_host_interfaces: async (req) =>
      hostInterfaces(req, deps.sidecar.interfaceList(), deps.dedicatedNics?.() ?? new Map()),
    get_orchestrator_version: async () =>
      deps.versions
        ? deps.versions()
        : { status: 'success', orchestrator_version: UNKNOWN, netmon_version: UNKNOWN, orchestrator_image_id: UNKNOWN },
    get_serial_devices: async () => serialDevices(deps.sidecar.serialDevices()),
    list_devices: async () => {
      const devices = deps.supervisor
        .list()
        .filter((s) => s.phase !== 'deleted')
        .map((s) => ({
          device_id: s.name,
          state: s.state,
          desired_state: s.desired,
          ready: deps.readiness?.isReady(s.name) ?? false,
          ...(s.step ? { step: s.step } : {}),
          ...(s.lastError ? { last_error: s.lastError } : {}),
        }));
      return { status: 'success', devices, count: devices.length };
    },
    run_command: async (req, ctx) => {
      const status = deps.supervisor.status(req.device_id);
      if (req.api === DEBUG_API) return runCommandDebug(req, status, deps.debug.http, ctx);
      const internalIp = () => deps.watch.observed(req.device_id)?.internalIp ?? null;
      const runDeps = { proxy: deps.proxy, allowedPorts: deps.runCommandPorts, gate, readiness: deps.readiness };
      return runCommand(req, status, internalIp, runDeps, ctx);
    },
    'webrtc:offer': async (req, ctx) => deps.debug.webrtc.offer(req, ctx.emit),
    'webrtc:ice': async (req) => deps.debug.webrtc.ice(req),
    'webrtc:disconnect': async (req) => deps.debug.webrtc.disconnect(req),
  };
}

function noDevice(deps: TopicDeps) {
  return {
    status: undefined,
    observed: undefined,
    engineAvailable: true,
    leases: deps.leases,
    serialPort: () => undefined,
  };
}
