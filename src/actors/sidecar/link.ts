import type { Logger } from 'pino';
import { createActor, fromCallback, fromPromise, type InspectionEvent } from 'xstate';
import type {
  DhcpUpdateEvent,
  InterfaceInfo,
  SerialDevice,
  SidecarEvent,
  SidecarReply,
} from '../../../sidecar/src/protocol.js';
import type { NetmonConnector, NetmonSession, SidecarRequest } from '../../io/netmon/client.js';
import { type LinkEvent, type LinkSession, linkMachine } from '../../machines/link.machine.js';

export interface SidecarListeners {
  /** A new session is live (after its discovery events were applied). */
  connected: () => void;
  /** An interface's addresses, gateway or state changed (already debounced by the sidecar). */
  networkChanged: (iface: InterfaceInfo) => void;
  dhcpLease: (lease: DhcpUpdateEvent['data']) => void;
  serialChanged: (action: 'add' | 'remove' | 'discovery', device: SerialDevice | null) => void;
}

export class SidecarUnavailable extends Error {
  override readonly name = 'SidecarUnavailable';
}

/**
 * The agent's side of the network-monitor sidecar (docs/protocol.md#agent-side-of-the-sidecar-link): a link
 * machine instance over the Unix socket, plus the caches it feeds. The interface cache is replaced on every
 * discovery and cleared when the sidecar goes away (the old agent kept both), so get_host_interfaces never
 * reports interfaces the host no longer has.
 */
export class SidecarLink {
  private readonly actor;
  private readonly stateListeners = new Set<(state: string) => void>();
  private live: NetmonSession | null = null;
  private interfaces = new Map<string, InterfaceInfo>();
  /** Serial devices by `by_id` (devices without one cannot be matched to a config). */
  private serial = new Map<string, SerialDevice>();
  private readonly listeners: { [K in keyof SidecarListeners]: Set<SidecarListeners[K]> } = {
    connected: new Set(),
    networkChanged: new Set(),
    dhcpLease: new Set(),
    serialChanged: new Set(),
  };

  private readonly log: Logger;

  constructor(opts: {
    connector: NetmonConnector;
    log: Logger;
    random?: () => number;
    baseDelayMs?: number;
    maxDelayMs?: number;
    /**
     * The link's actor failed (a bug): without it the agent would stay up but useless, so this is reported as fatal
     * and the agent exits for its container's restart policy (docs/decisions.md#a-fatal-fault-ends-the-process).
     */
    onFatal?: (what: string, error: unknown) => void;
  }) {
    const { log } = opts;
    this.log = log;
    const machine = linkMachine.provide({
      actors: {
        connect: fromPromise<LinkSession, void>(() => opts.connector.connect()),
        session: fromCallback<LinkEvent, LinkSession>(({ input, sendBack }) => {
          const session = input as NetmonSession;
          this.live = session;
          session.onEvent((event) => this.apply(event));
          session.onClosed((reason) => sendBack({ type: 'CONNECTION_LOST', reason }));
          log.info({ session: session.id }, 'connected to the network monitor');
          // Let the discovery events that arrive right after accept land in the caches first.
          const ready = setTimeout(() => this.fire('connected'), 50);
          return () => {
            clearTimeout(ready);
            if (this.live === session) this.live = null;
            this.interfaces = new Map();
            this.serial = new Map();
            session.close();
          };
        }),
      },
    });
    this.actor = createActor(machine, {
      input: { random: opts.random, baseDelayMs: opts.baseDelayMs, maxDelayMs: opts.maxDelayMs ?? 5_000 },
    });
    let previous = '';
    this.actor.subscribe({
      next: (snapshot) => {
        const state = String(snapshot.value);
        if (state === previous) return;
        previous = state;
        for (const listener of this.stateListeners) listener(state);
        if (state === 'backingOff')
          log.debug({ error: snapshot.context.lastError }, 'network monitor unavailable; retrying');
      },
      error: (error) => {
        log.fatal({ err: error }, 'sidecar link actor failed');
        opts.onFatal?.('the network monitor link', error);
      },
    });
  }

  start(): void {
    this.actor.start();
  }

  stop(): void {
    this.actor.send({ type: 'STOP' });
    this.actor.stop();
  }

  online(): boolean {
    return this.live !== null;
  }

  /** The link machine's state: connecting, online, backingOff or stopped. */
  state(): string {
    return String(this.actor.getSnapshot().value);
  }

  /** Called with every new state of the link (metrics, the inspector). */
  onState(listener: (state: string) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** The link's actor, for the inspector's list of live actors. */
  actorRef() {
    return this.actor;
  }

  /** Dev tooling: every XState inspection event of the link's actor system; nothing is produced while nobody listens. */
  inspect(observer: (event: InspectionEvent) => void): () => void {
    const sub = this.actor.system.inspect(observer);
    return () => sub.unsubscribe();
  }

  on<K extends keyof SidecarListeners>(event: K, listener: SidecarListeners[K]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /** Sends a command and waits for the reply that repeats its `id` (docs/protocol.md#sidecar-commands). */
  request(command: SidecarRequest, timeoutMs?: number): Promise<SidecarReply> {
    if (!this.live) {
      return Promise.reject(new SidecarUnavailable('the network monitor sidecar (autonomy_netmon) is not connected'));
    }
    return this.live.request(command, timeoutMs);
  }

  /** Subnet and gateway of a host interface, for MACVLAN subnet detection. */
  get(iface: string): { subnet: string; gateway: string | null } | undefined {
    const info = this.interfaces.get(iface);
    const first = info?.ipv4_addresses[0];
    return info && first ? { subnet: first.subnet, gateway: info.gateway } : undefined;
  }

  interfaceList(): InterfaceInfo[] {
    return [...this.interfaces.values()];
  }

  serialDevices(): SerialDevice[] {
    return [...this.serial.values()];
  }

  private apply(event: SidecarEvent): void {
    switch (event.type) {
      case 'network_discovery':
        this.interfaces = new Map(event.data.interfaces.map((i) => [i.interface, i]));
        break;
      case 'network_change':
        if (event.data.status === 'removed') this.interfaces.delete(event.data.interface);
        else this.interfaces.set(event.data.interface, event.data);
        this.fire('networkChanged', event.data);
        break;
      case 'dhcp_update':
        this.fire('dhcpLease', event.data);
        break;
      case 'device_discovery':
        this.serial = new Map(event.data.devices.filter((d) => d.by_id).map((d) => [d.by_id as string, d]));
        this.fire('serialChanged', 'discovery', null);
        break;
      case 'device_change': {
        const { action, device } = event.data;
        if (action === 'add') {
          if (device.by_id) this.serial.set(device.by_id, device);
        } else {
          for (const [byId, known] of this.serial)
            if (known.path === device.path || byId === device.by_id) this.serial.delete(byId);
        }
        this.fire('serialChanged', action, device);
        break;
      }
      case 'error':
        this.log.warn({ error: event.error }, 'network monitor reported a stream error');
        break;
    }
  }

  private fire<K extends keyof SidecarListeners>(event: K, ...args: Parameters<SidecarListeners[K]>): void {
    for (const listener of this.listeners[event]) {
      try {
        (listener as (...a: Parameters<SidecarListeners[K]>) => void)(...args);
      } catch (error) {
        // One listener's bug must not stop the others or the socket reader.
        this.log.error({ err: error, event }, 'sidecar event listener failed');
      }
    }
  }
}
