/** The sidecar assembled: socket server, interface monitor, DHCP clients, serial monitor and command dispatch. */
import { access, constants, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Socket } from 'node:net';
import { endOrphanDhcpClients } from './orphans.js';
import { peerProblem } from './peer.js';
import { CommandDispatcher } from './commands.js';
import { DhcpManager } from './dhcp.js';
import { InterfaceMonitor } from './interfaces.js';
import type {
  DeviceChangeEvent,
  DeviceDiscoveryEvent,
  DhcpUpdateEvent,
  NetworkChangeEvent,
  NetworkDiscoveryEvent,
  SidecarCommandName,
} from './protocol.js';
import { SerialMonitor } from './serial.js';
import { SidecarServer } from './server.js';
import { NicMover } from './nics.js';
import { ProxyArpBridges } from './proxyArp.js';
import { WifiDhcp } from './wifiDhcp.js';
import { isoLocal } from '../../src/model/time.js';

/** Next to the compiled or source `src/` folder: `sidecar/udhcpc-hook.sh` (the Dockerfile keeps that layout). */
export const DEFAULT_HOOK_PATH = fileURLToPath(new URL('../udhcpc-hook.sh', import.meta.url));

export interface SidecarOptions {
  socketPath: string;
  /** The shared volume; leases go to `<dataDir>/dhcp`. */
  dataDir: string;
  log: Logger;
  socketMode?: number;
  /**
   * Besides root and the sidecar's own uid, the uids whose processes may use the socket (the agent's, when it does
   * not run as root). `false` turns the check of the connecting process off (tests of the socket's file mode).
   */
  allowedUids?: readonly number[] | false;
  hookPath?: string;
  /** This sidecar's version, reported by get_status (main.ts: AGENT_VERSION, else package.json). */
  version?: string;
  /** sysfs (`/sys`): serial devices, and which interfaces are hardware ports. */
  sysRoot?: string;
  devRoot?: string;
  serialPollMs?: number;
  networkDebounceMs?: number;
  /** iproute2 command for the host view (tests point it at a wrapper that adds `-n <netns>`). */
  interfacesIpCommand?: string;
  commandTimeouts?: Partial<Record<SidecarCommandName, number>>;
  dhcp?: {
    nsenterCommand?: string;
    udhcpcCommand?: readonly string[];
    restartMinMs?: number;
    restartMaxMs?: number;
    lookupAttempts?: number;
    lookupIntervalMs?: number;
  };
}

export interface RunningSidecar {
  readonly server: SidecarServer;
  readonly dhcp: DhcpManager;
  close(): Promise<void>;
}

/** Only root, the sidecar's own uid and `extra` may talk to the sidecar (docs/decisions.md#the-sidecar-checks-who-connects-and-acts-only-inside-runtime-containers). */
function peerCheck(extra: SidecarOptions['allowedUids']): ((socket: Socket) => Promise<string | null>) | undefined {
  if (extra === false) return undefined;
  const allowed = new Set([0, process.getuid?.() ?? 0, ...(extra ?? [])]);
  return (socket) => peerProblem(socket, allowed);
}

export async function startSidecar(options: SidecarOptions): Promise<RunningSidecar> {
  const { log } = options;
  const leaseDir = join(options.dataDir, 'dhcp');
  await mkdir(leaseDir, { recursive: true });
  const hookPath = options.hookPath ?? DEFAULT_HOOK_PATH;
  // udhcpc runs the hook itself: without it every client would get leases and configure nothing, silently.
  await access(hookPath, constants.X_OK).catch(() => {
    throw new Error(`the udhcpc hook ${hookPath} is missing or not executable; install it or pass --dhcp-hook`);
  });

  // A previous sidecar killed hard leaves its udhcpc clients running; with the agent's resync they would be
  // duplicated, and two clients on one interface fight over its address.
  await endOrphanDhcpClients(leaseDir, log);

  // The server exists before the monitors so that their first events have somewhere to go.
  let server: SidecarServer | undefined;
  const broadcast = (event: object) => server?.broadcast(event);

  const interfaces = new InterfaceMonitor({
    log: log.child({ part: 'interfaces' }),
    debounceMs: options.networkDebounceMs,
    ipCommand: options.interfacesIpCommand,
    sysRoot: options.sysRoot,
    onChange: (info) => broadcast({ type: 'network_change', data: info } satisfies NetworkChangeEvent),
  });
  const serial = new SerialMonitor({
    log: log.child({ part: 'serial' }),
    sysRoot: options.sysRoot,
    devRoot: options.devRoot,
    pollMs: options.serialPollMs,
    onChange: (action, device) =>
      broadcast({ type: 'device_change', data: { action, device } } satisfies DeviceChangeEvent),
  });
  const dhcp = new DhcpManager({
    log: log.child({ part: 'dhcp' }),
    leaseDir,
    hookPath,
    onLease: (data) => broadcast({ type: 'dhcp_update', data } satisfies DhcpUpdateEvent),
    ...options.dhcp,
  });
  const bridges = new ProxyArpBridges(log.child({ part: 'proxy_arp' }));
  const wifiDhcp = new WifiDhcp({
    log: log.child({ part: 'wifi_dhcp' }),
    leaseDir,
    hookPath,
    bridges,
    onLease: (data) => broadcast({ type: 'dhcp_update', data } satisfies DhcpUpdateEvent),
    ...(options.dhcp?.udhcpcCommand ? { udhcpcCommand: options.dhcp.udhcpcCommand } : {}),
  });
  const dispatcher = new CommandDispatcher({
    log: log.child({ part: 'commands' }),
    dhcp,
    serial,
    nics: new NicMover(),
    bridges,
    wifiDhcp,
    timeouts: options.commandTimeouts,
    ipCommand: options.interfacesIpCommand,
    interfaces,
    clientsConnected: () => server?.clientCount ?? 0,
    version: options.version,
  });

  server = new SidecarServer({
    socketPath: options.socketPath,
    log: log.child({ part: 'server' }),
    mode: options.socketMode,
    authorize: peerCheck(options.allowedUids),
    hooks: {
      // Every new client first gets one network_discovery, then one device_discovery
      // (docs/protocol.md#sidecar-transport).
      async greet(client) {
        const interfacesNow = await interfaces.discover().catch((err: unknown) => {
          log.error({ step: 'discovery.failed', err }, 'could not read the host interfaces for a new client');
          return [];
        });
        client.sendFirst({
          type: 'network_discovery',
          data: { interfaces: interfacesNow, timestamp: isoLocal() },
        } satisfies NetworkDiscoveryEvent);
        client.sendFirst({
          type: 'device_discovery',
          data: { devices: serial.devices(), timestamp: isoLocal() },
        } satisfies DeviceDiscoveryEvent);
      },
      onLine(client, line) {
        void dispatcher.handleLine(line).then((reply) => client.send(reply));
      },
    },
  });

  try {
    await Promise.all([interfaces.start(), serial.start()]);
    await server.listen();
  } catch (err) {
    interfaces.stop();
    serial.stop();
    throw err;
  }

  return {
    server,
    dhcp,
    async close() {
      interfaces.stop();
      serial.stop();
      await server.close();
      await dhcp.shutdown();
      await wifiDhcp.shutdown();
    },
  };
}
