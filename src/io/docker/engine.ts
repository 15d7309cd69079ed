import { PassThrough } from 'node:stream';
import Dockerode from 'dockerode';
import type { Logger } from 'pino';
import {
  type ContainerFacts,
  type ContainerPlan,
  type NetworkFacts,
  fromInspect,
  fromNetworkInspect,
  toCreateOptions,
} from './convert.js';
import {
  Conflict,
  EngineError,
  ImageMissing,
  NotFound,
  Timeout,
  engineText,
  isNotFound,
  toEngineError,
} from './errors.js';
import { dockerCallKind } from './callKinds.js';
import { onJsonLines } from './jsonLines.js';
import { MANAGED_FILTER, type Labels, internalNetworkLabels, macvlanNetworkLabels } from './labels.js';
import { looksLikeShortId, ownContainerIds } from './selfContainer.js';
import { macsInUseOnParent } from './macs.js';
import { internalNetworkProblem } from './ownership.js';
import { readRouteTable } from '../host/routes.js';
import { type Ipv4Network, networkText, overlaps, parseIpv4Network, subnetsOf } from '../../model/ipv4.js';
import { DEFAULT_INTERNAL_SUBNET_POOL, type InternalSubnetPool } from '../../model/vplc.js';
import { internalNetworkName, macvlanNetworkName } from '../../model/names.js';

export type EngineAddress = { socketPath: string } | { host: string; port: number };

export interface DockerEngineOptions {
  address: EngineAddress;
  log: Logger;
  /** Upper bound of one engine call (default 30 s). */
  callTimeoutMs?: number;
  /** How long a registry may take to answer a pull before the local image is used (default 10 s). */
  registryAnswerMs?: number;
  /** Upper bound of a pull once the registry answered (default 10 min: runtime images are large). */
  pullTimeoutMs?: number;
  /**
   * The agent's own container (name or id) to join runtimes' internal networks; `null` when the agent runs on the
   * host. Left out: detected (label `edge.autonomy.role=orchestrator-agent`, then `hostname`).
   */
  selfContainer?: string | null;
  /** The agent's HOSTNAME, which Docker sets to the container's short id: self-detection's fallback. */
  hostname?: string | null;
  /** Where this process's own `/proc` entries are read for self-detection (tests point it at captured files). */
  procRoot?: string;
  /** `--internal-subnet-pool`: where `<name>_internal` networks take their subnets (default 172.31.0.0/16 in /28). */
  internalSubnetPool?: InternalSubnetPool;
  /**
   * Subnets the host routes or has addresses in, which an internal network must not take (Docker would create a
   * bridge that captures the host's traffic to them). Default: this process's own route table.
   */
  hostSubnets?: () => Promise<string[]>;
  /**
   * Told of every engine call when it ends (metrics): its kind (callKinds.ts), how long it took, and the typed
   * error's code when it failed.
   */
  observe?: (call: string, seconds: number, errorCode: string | null) => void;
}

/** A container as `docker ps` lists it. */
export interface ContainerListing {
  id: string;
  name: string;
  state: string;
  labels: Labels;
}

export type RemoveNetworkOutcome = 'removed' | 'absent' | 'in_use' | 'not_ours';

/**
 * Why a network may be removed: it carries our labels, or the caller proves it is ours another way (the exact shape
 * the old agent gave it, see ownership.ts). There is deliberately no "whatever it is".
 */
export type NetworkOwnership = { requireOwned: true } | { ours: (net: NetworkFacts) => boolean };

/** dockerode accepts `abortSignal` on these calls; its typings do not say so. */
interface WithOptions {
  version(opts: object): Promise<Dockerode.DockerVersion>;
  ping(opts: object): Promise<unknown>;
}
interface InspectWithOptions {
  inspect(opts: object): Promise<Dockerode.NetworkInspectInfo>;
}

const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** Output kept from one command run inside a runtime: serial commands print nothing, or a line of error. */
export const EXEC_MAX_OUTPUT_BYTES = 64 * 1024;

/** A command inside a runtime wrote more than `exec` reads. */
export class ExecOverflow extends EngineError {}

/**
 * Read a multiplexed exec stream to its end, keeping at most `max` bytes of output after the first line of stdout
 * (the PID the wrapper shell prints, handed to `onPid`; stderr may arrive before it). Stops reading, and ends, as
 * soon as `max` is passed or `signal` aborts.
 */
function readBounded(
  docker: Dockerode,
  stream: NodeJS.ReadWriteStream,
  max: number,
  signal: AbortSignal,
  onPid: (pid: string) => void,
): Promise<{ text: string; overflow: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let head = '';
    let pidSeen = false;
    let settled = false;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const finish = (overflow: boolean) => {
      if (settled) return;
      settled = true;
      resolve({ text: Buffer.concat(chunks).toString('utf8').trim(), overflow });
    };
    const keep = (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > max) {
        chunks.push(chunk.subarray(0, Math.max(0, chunk.length - (size - max))));
        finish(true);
        (stream as { destroy?: () => void }).destroy?.();
        return;
      }
      chunks.push(chunk);
    };
    stdout.on('data', (chunk: Buffer) => {
      if (pidSeen) return keep(chunk);
      head += chunk.toString('latin1');
      const newline = head.indexOf('\n');
      if (newline === -1 && head.length <= 32) return;
      pidSeen = true;
      const pid = (newline === -1 ? '' : head.slice(0, newline)).trim();
      if (/^\d+$/.test(pid)) onPid(pid);
      keep(Buffer.from(newline === -1 ? head : head.slice(newline + 1), 'latin1'));
    });
    stderr.on('data', keep);
    docker.modem.demuxStream(stream, stdout, stderr);
    // The demultiplexer writes synchronously; its last chunk is in `chunks` before the stream's end is seen.
    stream.once('end', () => setImmediate(() => finish(false)));
    stream.once('close', () => setImmediate(() => finish(false)));
    stream.once('error', (err) => {
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    signal.addEventListener('abort', () => (stream as { destroy?: () => void }).destroy?.(), { once: true });
  });
}

/** The old agent's stop timeout (docs/protocol.md#runtime-container); the engine kills after it. */
export const STOP_TIMEOUT_SEC = 10;

function apiAtLeast(version: string, major: number, minor: number): boolean {
  const [maj = 0, min = 0] = version.split('.').map((p) => Number.parseInt(p, 10));
  return maj > major || (maj === major && min >= minor);
}

/**
 * The Docker engine as this agent uses it. Every call is bounded by a timeout and rejects with a typed error from
 * `errors.ts`. dockerode's `version` is left unset so it speaks the daemon's own API; the API level is detected once
 * and decides how a multi-network container is created (see `convert.ts`).
 */
export class DockerEngine {
  private readonly docker: Dockerode;
  private readonly log: Logger;
  private readonly callTimeoutMs: number;
  private readonly registryAnswerMs: number;
  private readonly pullTimeoutMs: number;
  private readonly selfOverride: string | null | undefined;
  private readonly hostname: string | null;
  private readonly procRoot: string;
  private readonly pool: InternalSubnetPool;
  private readonly hostSubnets: () => Promise<string[]>;
  /**
   * Internal subnets this process is making, or made after a listing still in use was taken: two concurrent creates
   * never pick the same free subnet, yet neither waits for the other
   * (docs/performance.md#creates-on-one-parent-run-side-by-side). `seq` orders makes and listings.
   */
  private readonly subnetClaims: Array<{ net: Ipv4Network; madeAt: number | null }> = [];
  /** The `seq` at which each allocation still running took its listing of the subnets in use. */
  private readonly listingsInUse = new Set<number>();
  private seq = 0;
  private readonly observe: DockerEngineOptions['observe'];
  private version: Promise<string> | undefined;
  private self: Promise<{ id: string; name: string } | null> | undefined;

  constructor(options: DockerEngineOptions) {
    const address = options.address;
    this.docker =
      'socketPath' in address
        ? new Dockerode({ socketPath: address.socketPath })
        : new Dockerode({ host: address.host, port: address.port });
    this.log = options.log;
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.registryAnswerMs = options.registryAnswerMs ?? 10_000;
    this.pullTimeoutMs = options.pullTimeoutMs ?? 600_000;
    this.selfOverride = options.selfContainer;
    this.hostname = options.hostname ?? null;
    this.procRoot = options.procRoot ?? '/proc';
    this.pool = options.internalSubnetPool ?? DEFAULT_INTERNAL_SUBNET_POOL;
    this.hostSubnets = options.hostSubnets ?? (() => readRouteTable());
    this.observe = options.observe;
  }

  /**
   * Run one engine call with a deadline. dockerode honours `abortSignal` on most calls; the race bounds the few
   * that ignore it (e.g. network inspect).
   */
  private async call<T>(
    action: string,
    fn: (signal: AbortSignal) => Promise<T>,
    timeoutMs: number = this.callTimeoutMs,
  ): Promise<T> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(
          new Timeout(
            `Docker did not answer within ${Math.round(timeoutMs / 1000)} s while trying to ${action}; the engine may be overloaded or hung. Check dockerd and retry.`,
          ),
        );
      }, timeoutMs);
    });
    const started = performance.now();
    const ended = (code: string | null) =>
      this.observe?.(dockerCallKind(action), (performance.now() - started) / 1000, code);
    try {
      const result = await Promise.race([fn(controller.signal), deadline]);
      ended(null);
      return result;
    } catch (err) {
      const typed = toEngineError(err, { action, timeoutMs });
      ended(typed.code);
      throw typed;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The daemon's API version, asked once. */
  apiVersion(): Promise<string> {
    if (!this.version) {
      const asking = this.call('read the engine version', (signal) =>
        (this.docker as unknown as WithOptions).version({ abortSignal: signal }),
      ).then((v) => v.ApiVersion);
      // A failed probe (engine down) is retried on the next call instead of being remembered.
      asking.catch(() => {
        if (this.version === asking) this.version = undefined;
      });
      this.version = asking;
    }
    return this.version;
  }

  /** API >= 1.44 accepts every network (and a MAC per endpoint) in the create call. */
  async multiNetworkCreate(): Promise<boolean> {
    return apiAtLeast(await this.apiVersion(), 1, 44);
  }

  // ---------------------------------------------------------------- images

  /**
   * Make sure `image` is usable: pull when a registry answers within `registryAnswerMs`, else use the
   * local image. Neither → `ImageMissing` naming the image and `--runtime-image`.
   */
  async ensureImage(image: string): Promise<'pulled' | 'local'> {
    let pullProblem: string;
    try {
      await this.pull(image);
      this.log.info({ step: 'image.pulled', image }, 'pulled runtime image');
      return 'pulled';
    } catch (err) {
      pullProblem = err instanceof EngineError ? (err.engineMessage ?? err.message) : engineText(err);
    }
    const local = await this.call(`inspect image ${image}`, (signal) =>
      this.docker.getImage(image).inspect({ abortSignal: signal } as object),
    ).catch((err: unknown) => {
      if (isNotFound(err) || err instanceof ImageMissing) return undefined;
      throw err;
    });
    if (local) {
      this.log.warn(
        { step: 'image.local', image, reason: pullProblem },
        'could not pull runtime image; using the local one',
      );
      return 'local';
    }
    throw new ImageMissing(
      `Runtime image ${image} is not on this host and could not be pulled (${pullProblem}). Load it on the host (docker load / docker pull) or start the agent with --runtime-image naming an image that is present.`,
      { engineMessage: pullProblem },
    );
  }

  private async pull(image: string): Promise<void> {
    const controller = new AbortController();
    const answerTimer = setTimeout(() => controller.abort(), this.registryAnswerMs);
    const overallTimer = setTimeout(() => controller.abort(), this.pullTimeoutMs);
    try {
      const stream = await this.docker.pull(image, { abortSignal: controller.signal });
      clearTimeout(answerTimer);
      await new Promise<void>((resolve, reject) => {
        let failure: string | undefined;
        const flush = onJsonLines(stream, (obj) => {
          if (typeof obj.error === 'string') failure = obj.error;
        });
        const done = (): void => {
          flush();
          if (failure !== undefined) reject(new EngineError(failure, { engineMessage: failure }));
          else resolve();
        };
        stream.once('end', done);
        stream.once('error', (err: Error) => reject(err));
        controller.signal.addEventListener('abort', () =>
          reject(new Timeout('registry did not finish the pull in time')),
        );
      });
    } catch (err) {
      if (controller.signal.aborted && !(err instanceof EngineError)) {
        throw new Timeout(`no registry answered within ${Math.round(this.registryAnswerMs / 1000)} s`);
      }
      throw toEngineError(err, { action: `pull image ${image}` });
    } finally {
      clearTimeout(answerTimer);
      clearTimeout(overallTimer);
    }
  }

  // ---------------------------------------------------------------- networks

  /**
   * The network named exactly `name`, inspected; `undefined` when absent. Never a prefix or id match: Docker's name
   * filter would find `macvlan_eth10_…` for `macvlan_eth1`.
   */
  async findNetwork(name: string): Promise<NetworkFacts | undefined> {
    const listed = await this.call(`list networks named ${name}`, (signal) =>
      this.docker.listNetworks({ filters: { name: [name] }, abortSignal: signal } as object),
    );
    const exact = listed.find((n) => n.Name === name);
    if (!exact) return undefined;
    return this.inspectNetwork(exact.Id, name);
  }

  private async inspectNetwork(id: string, label: string): Promise<NetworkFacts | undefined> {
    try {
      const info = await this.call(`inspect network ${label}`, (signal) =>
        (this.docker.getNetwork(id) as unknown as InspectWithOptions).inspect({ abortSignal: signal }),
      );
      return fromNetworkInspect(info);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** All networks with the given driver, inspected (lists on API 1.41 leave `Containers` empty). */
  async networksByDriver(driver: string): Promise<NetworkFacts[]> {
    const listed = await this.call(`list ${driver} networks`, (signal) =>
      this.docker.listNetworks({ filters: { driver: [driver] }, abortSignal: signal } as object),
    );
    const inspected = await Promise.all(listed.map((n) => this.inspectNetwork(n.Id, n.Name)));
    return inspected.filter((n): n is NetworkFacts => n !== undefined);
  }

  /**
   * Why the existing `<runtime>_internal` must not carry the runtime (docs/decisions.md#an-existing-network-is-reused-only-when-it-is-ours),
   * or null when it may or does not exist. `oldAgentRuntime`: the runtime was adopted from the old agent, whose
   * unlabelled internal bridge is then accepted.
   */
  async internalNetworkProblem(
    runtimeName: string,
    opts: { oldAgentRuntime?: boolean } = {},
  ): Promise<{ network: NetworkFacts | undefined; problem: string | null }> {
    const network = await this.findNetwork(internalNetworkName(runtimeName));
    if (!network) return { network, problem: null };
    const self = await this.findSelf();
    const problem = internalNetworkProblem(network, runtimeName, {
      oldAgentRuntime: opts.oldAgentRuntime ?? false,
      selfId: self?.id ?? null,
    });
    return { network, problem };
  }

  /**
   * `<runtime>_internal`: internal bridge, no external routing. An existing one is reused only when it is ours (or,
   * for a runtime adopted from the old agent, the old agent's) and nothing else is attached to it; otherwise
   * `Conflict` with a sentence naming it.
   */
  async ensureInternalNetwork(runtimeName: string, opts: { oldAgentRuntime?: boolean } = {}): Promise<NetworkFacts> {
    const name = internalNetworkName(runtimeName);
    const { network: existing, problem } = await this.internalNetworkProblem(runtimeName, opts);
    if (problem) throw new Conflict(problem);
    if (existing) return existing;
    try {
      await this.createInternalNetwork(name, runtimeName);
    } catch (err) {
      if (!(err instanceof Conflict)) throw err;
    }
    // Made by us just now, or by a create racing ours: either way it must pass the same check.
    const { network: created, problem: after } = await this.internalNetworkProblem(runtimeName, opts);
    if (after) throw new Conflict(after);
    if (!created) throw new NotFound(`Docker created network ${name} but it disappeared right after; retry.`);
    return created;
  }

  /** Every IPv4 subnet an internal network must not overlap: every Docker network's, and the host's routes. */
  private async subnetsTaken(): Promise<Ipv4Network[]> {
    const listed = await this.call('list networks', (signal) =>
      this.docker.listNetworks({ abortSignal: signal } as object),
    );
    const docker = listed.flatMap((n) => (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? ''));
    const host = await this.hostSubnets().catch((err: unknown) => {
      this.log.warn({ step: 'network.host_routes_unknown', err: engineText(err) }, 'could not read the host routes');
      return [] as string[];
    });
    return [...docker, ...host].flatMap((cidr) => {
      const net = parseIpv4Network(cidr);
      return net ? [net] : [];
    });
  }

  /**
   * Create `<runtime>_internal` on the first subnet of the pool that no Docker network and no host route or address
   * uses (docs/decisions.md#internal-networks-are-small-and-come-from-a-pool-of-our-own). Docker's default pools
   * hold about 30 networks and would be exhausted long before the cap on vPLCs. A subnet Docker still calls
   * overlapping (another engine's bridge, a network made meanwhile) is skipped and the next one tried.
   */
  private async createInternalNetwork(name: string, runtimeName: string): Promise<void> {
    const pool = parseIpv4Network(this.pool.base);
    if (pool === null) throw new EngineError(`the internal subnet pool ${this.pool.base} is not an IPv4 network`);
    const listedAt = ++this.seq;
    this.listingsInUse.add(listedAt);
    try {
      await this.allocateInternalNetwork(name, runtimeName, pool, listedAt);
    } finally {
      this.listingsInUse.delete(listedAt);
      // A subnet made before every listing still in use was taken is in all of them: its claim is no longer needed.
      const oldest = Math.min(...this.listingsInUse);
      for (let i = this.subnetClaims.length - 1; i >= 0; i--) {
        const made = this.subnetClaims[i]!.madeAt;
        if (made !== null && made < oldest) this.subnetClaims.splice(i, 1);
      }
    }
  }

  private async allocateInternalNetwork(
    name: string,
    runtimeName: string,
    pool: Ipv4Network,
    listedAt: number,
  ): Promise<void> {
    const taken = await this.subnetsTaken();
    // Claimed by another create: being made now, or made after this listing was taken (so it may not be in it).
    const claimed = (candidate: Ipv4Network) =>
      this.subnetClaims.some((c) => (c.madeAt === null || c.madeAt > listedAt) && overlaps(c.net, candidate));
    let refusals = 0;
    for (const candidate of subnetsOf(pool, this.pool.size)) {
      if (taken.some((t) => overlaps(t, candidate))) continue;
      if (claimed(candidate)) continue;
      const subnet = networkText(candidate);
      const claim: { net: Ipv4Network; madeAt: number | null } = { net: candidate, madeAt: null };
      this.subnetClaims.push(claim);
      try {
        await this.call(`create network ${name}`, (signal) =>
          this.docker.createNetwork({
            Name: name,
            Driver: 'bridge',
            Internal: true,
            CheckDuplicate: true,
            IPAM: { Driver: 'default', Config: [{ Subnet: subnet }] },
            Labels: internalNetworkLabels(runtimeName),
            abortSignal: signal,
          } as Dockerode.NetworkCreateOptions),
        );
        claim.madeAt = ++this.seq;
        this.log.info({ step: 'network.created', network: name, subnet }, 'created internal network');
        return;
      } catch (err) {
        this.subnetClaims.splice(this.subnetClaims.indexOf(claim), 1);
        const text = err instanceof EngineError ? (err.engineMessage ?? '') : '';
        if (err instanceof Conflict || !/overlap/i.test(text) || ++refusals > 16) throw err;
        taken.push(candidate);
      }
    }
    throw new EngineError(
      `Cannot create network ${name}: no /${this.pool.size} subnet of the internal subnet pool ${this.pool.base} is free (every one is used by a Docker network or a route or address of this host). Start the agent with a larger --internal-subnet-pool, or one in a range this host does not use.`,
    );
  }

  /**
   * The MACVLAN network for (parent, subnet): reused by exact name; created otherwise; when Docker says
   * the pool overlaps, the existing MACVLAN with the same parent and subnet is reused (whatever its name).
   */
  async ensureMacvlanNetwork(req: { parent: string; subnet: string; gateway: string | null }): Promise<NetworkFacts> {
    const name = macvlanNetworkName(req.parent, req.subnet);
    const existing = await this.findNetwork(name);
    if (existing) {
      // The name says where the vNIC goes; a network of that name that goes elsewhere (a bridge, another parent)
      // would put the PLC there.
      const wanted = parseIpv4Network(req.subnet);
      const fits =
        existing.driver === 'macvlan' &&
        existing.parent === req.parent &&
        existing.subnets.some((s) => {
          const net = parseIpv4Network(s);
          return net !== null && wanted !== null && net.base === wanted.base && net.prefix === wanted.prefix;
        });
      if (!fits) {
        throw new Conflict(
          `Network ${name} already exists on this host but is not a MACVLAN network on ${req.parent} with subnet ${req.subnet} (it is a ${existing.driver} network${existing.parent ? ` on ${existing.parent}` : ''}${existing.subnets.length ? ` with subnet ${existing.subnets.join(', ')}` : ''}); the agent will not attach vPLCs to it. Remove or rename that network.`,
        );
      }
      return existing;
    }
    const pool: { Subnet: string; Gateway?: string } = { Subnet: req.subnet };
    if (req.gateway) pool.Gateway = req.gateway;
    try {
      await this.call(`create network ${name}`, (signal) =>
        this.docker.createNetwork({
          Name: name,
          Driver: 'macvlan',
          CheckDuplicate: true,
          Options: { parent: req.parent },
          IPAM: { Driver: 'default', Config: [pool] },
          Labels: macvlanNetworkLabels(),
          abortSignal: signal,
        } as Dockerode.NetworkCreateOptions),
      );
      this.log.info({ step: 'network.created', network: name, parent: req.parent }, 'created macvlan network');
    } catch (err) {
      if (err instanceof Conflict) {
        const raced = await this.findNetwork(name);
        if (raced) return raced;
      }
      const text = err instanceof EngineError ? (err.engineMessage ?? '') : '';
      if (/already using parent interface/i.test(text)) {
        // Docker allows one MACVLAN network per parent interface: a different subnet on the same parent is refused.
        const holder = (await this.networksByDriver('macvlan')).find((n) => n.parent === req.parent);
        const which = holder ? `${holder.name} (subnet ${holder.subnets.join(', ') || 'unknown'})` : 'another network';
        throw new Conflict(
          `Cannot create MACVLAN network ${name}: parent interface ${req.parent} already carries ${which}, and Docker allows one MACVLAN network per parent interface. Use that network's subnet for this vNIC, or delete the runtimes that use it first.`,
          { engineMessage: text, cause: err },
        );
      }
      if (!/overlaps/i.test(text)) throw err;
      const sameNet = (await this.networksByDriver('macvlan')).find(
        (n) => n.parent === req.parent && n.subnets.includes(req.subnet),
      );
      if (!sameNet) throw err;
      this.log.info(
        { step: 'network.reused', network: sameNet.name, wanted: name },
        'reusing overlapping macvlan network',
      );
      return sameNet;
    }
    const created = await this.findNetwork(name);
    if (!created) throw new NotFound(`Docker created network ${name} but it disappeared right after; retry.`);
    return created;
  }

  /**
   * Remove the network named exactly `name` if no container uses it and it is ours by `ownership`; any other
   * network is left alone (`not_ours`): we never remove what we cannot prove we created.
   */
  async removeNetworkIfUnused(name: string, ownership: NetworkOwnership): Promise<RemoveNetworkOutcome> {
    const net = await this.findNetwork(name);
    if (!net) return 'absent';
    const ours = 'ours' in ownership ? ownership.ours(net) : net.managed;
    if (!ours) return 'not_ours';
    if (Object.keys(net.containers).length > 0) return 'in_use';
    // A created, not yet started container has no endpoint, so the network's inspect does not show it; removing
    // the network would make its start fail. The container list's `network` filter does include it.
    if ((await this.containersOn(net.name)).length > 0) return 'in_use';
    try {
      await this.call(`remove network ${name}`, (signal) =>
        this.docker.getNetwork(net.id).remove({ abortSignal: signal }),
      );
    } catch (err) {
      if (isNotFound(err)) return 'absent';
      // "has active endpoints": someone attached between our inspect and the removal.
      if (
        err instanceof Conflict ||
        /active endpoints/i.test(err instanceof EngineError ? (err.engineMessage ?? '') : '')
      ) {
        return 'in_use';
      }
      throw err;
    }
    this.log.info({ step: 'network.removed', network: name }, 'removed network');
    return 'removed';
  }

  /**
   * Containers (any state) configured on a network. By name: a created container's endpoint has no NetworkID yet,
   * so the filter by id misses it.
   */
  private async containersOn(networkName: string): Promise<ContainerListing[]> {
    return this.listContainers({ networks: [networkName] });
  }

  /**
   * MACs (lower-case → container name) on MACVLAN networks whose parent is `parent` (the create's MAC check), including
   * containers created but not started (they hold no endpoint yet, but will claim their MAC on start).
   */
  async macsInUse(parent: string, excludeContainer?: string): Promise<Map<string, string>> {
    const networks = (await this.networksByDriver('macvlan')).filter((n) => n.parent === parent);
    const used = macsInUseOnParent(networks, parent, excludeContainer);
    // Side by side: a create chooses its MACs holding its parent exclusively, so every call here is a wait for
    // the other creates on that parent (ten at once leave up to nine created, not started, to inspect).
    const idleMacs = await Promise.all(
      networks.map(async (net) => {
        const attached = new Set(Object.keys(net.containers));
        const idle = (await this.containersOn(net.name)).filter(
          (c) => !attached.has(c.id) && c.name !== excludeContainer,
        );
        return Promise.all(
          idle.map(async (c): Promise<[string, string] | null> => {
            const facts = await this.inspectContainer(c.id);
            const mac =
              facts?.networks[net.name]?.mac ?? (facts?.networkMode === net.name ? facts.configuredMac : null);
            return mac ? [mac.toLowerCase(), c.name] : null;
          }),
        );
      }),
    );
    for (const found of idleMacs.flat()) if (found) used.set(found[0], found[1]);
    return used;
  }

  /** Attach a container to a network; already attached is fine. */
  async connect(network: string, container: string, endpoint: Dockerode.EndpointSettings = {}): Promise<void> {
    try {
      await this.call(`connect ${container} to network ${network}`, (signal) =>
        this.docker
          .getNetwork(network)
          .connect({ Container: container, EndpointConfig: endpoint, abortSignal: signal } as object),
      );
    } catch (err) {
      if (err instanceof Conflict) return;
      if (err instanceof EngineError && /already (exists|attached)/i.test(err.engineMessage ?? '')) return;
      throw err;
    }
  }

  /** Detach a container from a network (force); not attached or absent is fine. */
  async disconnect(network: string, container: string): Promise<void> {
    try {
      await this.call(`disconnect ${container} from network ${network}`, (signal) =>
        this.docker
          .getNetwork(network)
          .disconnect({ Container: container, Force: true, abortSignal: signal } as object),
      );
    } catch (err) {
      if (isNotFound(err)) return;
      if (err instanceof EngineError && /is not connected|not attached/i.test(err.engineMessage ?? '')) return;
      throw err;
    }
  }

  // ---------------------------------------------------------------- containers

  /**
   * Create the runtime container, not started, with every network attached. On API < 1.44 the extra networks are
   * connected right after create; if that fails the half-made container is removed before the error is raised.
   */
  async createContainer(plan: ContainerPlan): Promise<{ containerId: string }> {
    const request = toCreateOptions(plan, { multiNetworkCreate: await this.multiNetworkCreate() });
    const container = await this.call(`create container ${plan.name}`, (signal) =>
      this.docker.createContainer({ ...request.options, abortSignal: signal } as Dockerode.ContainerCreateOptions),
    );
    try {
      for (const pending of request.connectBeforeStart) {
        await this.connect(pending.network, container.id, pending.endpoint);
      }
    } catch (err) {
      await this.removeContainer(container.id).catch((cleanupErr: unknown) =>
        this.log.warn(
          { step: 'container.cleanup_failed', container: plan.name, err: cleanupErr },
          'could not remove half-created container',
        ),
      );
      throw err;
    }
    this.log.info({ step: 'container.created', container: plan.name, id: container.id }, 'created runtime container');
    return { containerId: container.id };
  }

  /** Start; already running is fine. A refused ulimit raises `RlimitRefused` and leaves the container `created`. */
  async startContainer(name: string): Promise<void> {
    try {
      await this.call(`start container ${name}`, (signal) =>
        this.docker.getContainer(name).start({ abortSignal: signal } as object),
      );
    } catch (err) {
      if (err instanceof EngineError && err.statusCode === 304) return;
      throw err;
    }
  }

  /** Stop with the engine's grace period, then kill. Resolves when already stopped or absent. */
  async stopContainer(name: string, timeoutSec = STOP_TIMEOUT_SEC): Promise<'stopped' | 'already_stopped' | 'absent'> {
    try {
      await this.call(
        `stop container ${name}`,
        (signal) => this.docker.getContainer(name).stop({ t: timeoutSec, abortSignal: signal } as object),
        timeoutSec * 1000 + this.callTimeoutMs,
      );
      return 'stopped';
    } catch (err) {
      if (err instanceof EngineError && err.statusCode === 304) return 'already_stopped';
      if (isNotFound(err)) return 'absent';
      throw err;
    }
  }

  /**
   * Run a command inside a running container as root and wait for it (serial device nodes: the agent image has no
   * docker CLI, which is why the old agent's nodes were never made). Arguments are passed as argv, never through a
   * shell string. Bounded (docs/decisions.md#commands-inside-a-runtime-are-bounded-and-stopped): at most
   * `maxOutputBytes` of output is read, and a command that writes more or outlives `timeoutMs` is killed.
   *
   * Docker has no call to stop an exec, and closing its stream leaves the process running (measured on both
   * engines: `yes` and `sleep` go on). So the command starts under `sh`, which prints its PID (the command's own,
   * after `exec`) before it runs, and that PID is killed from a second exec. A runtime can lie about it, but only
   * about processes of its own container.
   */
  async exec(
    name: string,
    cmd: string[],
    timeoutMs = 10_000,
    maxOutputBytes = EXEC_MAX_OUTPUT_BYTES,
  ): Promise<{ exitCode: number; output: string }> {
    const program = cmd[0] ?? 'a command';
    const running: { pid: string | null; stream: NodeJS.ReadWriteStream | null } = { pid: null, stream: null };
    try {
      return await this.call(
        `run ${program} in container ${name}`,
        async (signal) => {
          const exec = await this.docker.getContainer(name).exec({
            Cmd: ['sh', '-c', 'echo "$$"; exec "$@"', 'sh', ...cmd],
            User: 'root',
            AttachStdout: true,
            AttachStderr: true,
            Tty: false,
            abortSignal: signal,
          } as Dockerode.ExecCreateOptions);
          const stream = await exec.start({ hijack: true, stdin: false });
          running.stream = stream;
          const output = await readBounded(this.docker, stream, maxOutputBytes, signal, (pid) => {
            running.pid = pid;
          });
          if (output.overflow) {
            throw new ExecOverflow(
              `${program} in container ${name} wrote more than ${Math.round(maxOutputBytes / 1024)} KiB of output and was stopped.`,
            );
          }
          const info = await exec.inspect({ abortSignal: signal } as object);
          return { exitCode: info.ExitCode ?? -1, output: output.text };
        },
        timeoutMs,
      );
    } catch (err) {
      if (err instanceof Timeout || err instanceof ExecOverflow) await this.killExec(name, running);
      throw err;
    } finally {
      running.stream?.end();
      (running.stream as { destroy?: () => void } | null)?.destroy?.();
    }
  }

  /** Kill a command that `exec` started and gave up on, by the PID its shell printed (best effort, logged). */
  private async killExec(name: string, running: { pid: string | null }): Promise<void> {
    if (running.pid === null) return;
    try {
      await this.call(
        `stop a command in container ${name}`,
        async (signal) => {
          const kill = await this.docker.getContainer(name).exec({
            Cmd: ['sh', '-c', 'kill -KILL "$1"', 'sh', running.pid],
            User: 'root',
            AttachStdout: false,
            AttachStderr: false,
            abortSignal: signal,
          } as Dockerode.ExecCreateOptions);
          await kill.start({ Detach: true } as Dockerode.ExecStartOptions);
        },
        5_000,
      );
      this.log.info({ step: 'exec.killed', container: name, pid: running.pid }, 'stopped a command that overran');
    } catch (err) {
      this.log.warn(
        { step: 'exec.kill_failed', container: name, pid: running.pid, err: engineText(err) },
        'could not stop a command that overran',
      );
    }
  }

  /** Force-remove. Resolves when absent; waits out a removal already in progress. */
  async removeContainer(name: string): Promise<'removed' | 'absent'> {
    try {
      await this.call(`remove container ${name}`, (signal) =>
        this.docker.getContainer(name).remove({ force: true, abortSignal: signal } as object),
      );
      this.log.info({ step: 'container.removed', container: name }, 'removed container');
      return 'removed';
    } catch (err) {
      if (isNotFound(err)) return 'absent';
      if (err instanceof Conflict && /already in progress/i.test(err.engineMessage ?? '')) {
        for (let i = 0; i < 50; i++) {
          if ((await this.inspectContainer(name)) === undefined) return 'removed';
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      throw err;
    }
  }

  /** Remove a named volume (force). Self-destruct removes the shared volume this way. */
  async removeVolume(name: string): Promise<'removed' | 'absent'> {
    try {
      await this.call(`remove volume ${name}`, (signal) =>
        this.docker.getVolume(name).remove({ force: true, abortSignal: signal } as object),
      );
      this.log.info({ step: 'volume.removed', volume: name }, 'removed volume');
      return 'removed';
    } catch (err) {
      if (isNotFound(err)) return 'absent';
      throw err;
    }
  }

  /**
   * Set a container's restart policy without stopping it (`docker update --restart`). Runtimes adopted from the
   * old agent run with `always`, which would make the engine restart them behind the watchdog's back.
   */
  async ensureRestartPolicy(name: string, policy: 'no' = 'no'): Promise<'updated' | 'unchanged' | 'absent'> {
    let current: string;
    try {
      const info = await this.call(`inspect container ${name}`, (signal) =>
        this.docker.getContainer(name).inspect({ abortSignal: signal } as object),
      );
      current = info.HostConfig?.RestartPolicy?.Name ?? '';
    } catch (err) {
      if (isNotFound(err)) return 'absent';
      throw err;
    }
    // Docker reports an unset policy as "" or "no".
    if (current === policy || (policy === 'no' && current === '')) return 'unchanged';
    try {
      await this.call(`update the restart policy of container ${name}`, (signal) =>
        this.docker
          .getContainer(name)
          .update({ RestartPolicy: { Name: policy, MaximumRetryCount: 0 }, abortSignal: signal } as object),
      );
    } catch (err) {
      if (isNotFound(err)) return 'absent';
      throw err;
    }
    this.log.info(
      { step: 'container.restart_policy', container: name, from: current, to: policy },
      'restart policy set',
    );
    return 'updated';
  }

  /** Inspect by name or id; `undefined` when there is no such container. */
  async inspectContainer(name: string): Promise<ContainerFacts | undefined> {
    try {
      const info = await this.call(`inspect container ${name}`, (signal) =>
        this.docker.getContainer(name).inspect({ abortSignal: signal } as object),
      );
      return fromInspect(info);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Containers carrying `edge.autonomy.managed=true` (running or not, unless `runningOnly`). */
  async listManagedContainers(opts: { runningOnly?: boolean } = {}): Promise<ContainerListing[]> {
    return this.listContainers({ labels: [MANAGED_FILTER], runningOnly: opts.runningOnly ?? false });
  }

  async listContainers(opts: {
    labels?: string[];
    runningOnly?: boolean;
    names?: string[];
    networks?: string[];
  }): Promise<ContainerListing[]> {
    const filters: Record<string, string[]> = {};
    if (opts.networks?.length) filters.network = opts.networks;
    if (opts.labels?.length) filters.label = opts.labels;
    if (opts.runningOnly) filters.status = ['running'];
    if (opts.names?.length) filters.name = opts.names;
    const listed = await this.call('list containers', (signal) =>
      this.docker.listContainers({ all: !opts.runningOnly, filters, abortSignal: signal } as object),
    );
    return listed.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      state: c.State,
      labels: c.Labels ?? {},
    }));
  }

  /** One stats sample (`one-shot`: no 1 s priming wait; `precpu_stats` stays empty). */
  async statsOnce(id: string, timeoutMs = 10_000): Promise<Dockerode.ContainerStats> {
    return this.call(
      `read stats of container ${id}`,
      (signal) =>
        this.docker.getContainer(id).stats({ stream: false, 'one-shot': true, abortSignal: signal } as {
          stream: false;
        }),
      timeoutMs,
    );
  }

  /**
   * Open the events stream. No call timeout (it is meant to stay open); `signal` ends it. `since` (unix seconds)
   * replays what happened while we were away, as far as dockerd still remembers.
   */
  async openEvents(
    filters: Record<string, string[]>,
    signal: AbortSignal,
    since?: number,
  ): Promise<NodeJS.ReadableStream> {
    try {
      const opts: Record<string, unknown> = { filters, abortSignal: signal };
      if (since !== undefined) opts.since = since;
      return await this.docker.getEvents(opts as Dockerode.GetEventsOptions);
    } catch (err) {
      throw toEngineError(err, { action: 'open the events stream' });
    }
  }

  /**
   * A container's image id and environment (`Config.Env`, `NAME=value` entries), for get_orchestrator_version;
   * `undefined` when there is no such container.
   */
  async containerImage(name: string): Promise<{ imageId: string; env: string[] } | undefined> {
    try {
      const info = await this.call(`inspect container ${name}`, (signal) =>
        this.docker.getContainer(name).inspect({ abortSignal: signal } as object),
      );
      return { imageId: info.Image, env: info.Config?.Env ?? [] };
    } catch (err) {
      if (isNotFound(err) || err instanceof NotFound) return undefined;
      throw err;
    }
  }

  // ---------------------------------------------------------------- the agent's own container

  /**
   * The agent's own container (docs/decisions.md#the-agent-finds-its-own-container-by-what-the-kernel-says): the
   * container whose id this process's mount table or cgroup names (selfContainer.ts), else the one whose id starts
   * with `HOSTNAME` (Docker's short id). Never "a container with the agent's label": any container can carry it, and
   * self-destruct removes the container found here. `null` when the agent runs on the host. Detected once.
   */
  findSelf(): Promise<{ id: string; name: string } | null> {
    if (!this.self) {
      const detecting = this.detectSelf();
      detecting.catch(() => {
        if (this.self === detecting) this.self = undefined;
      });
      this.self = detecting;
    }
    return this.self;
  }

  private async detectSelf(): Promise<{ id: string; name: string } | null> {
    if (this.selfOverride === null) return null;
    if (this.selfOverride !== undefined) {
      const facts = await this.inspectContainer(this.selfOverride);
      return facts ? { id: facts.id, name: facts.name } : null;
    }
    for (const id of await ownContainerIds(this.procRoot)) {
      const facts = await this.inspectContainer(id);
      if (facts?.id === id && facts.running) return { id: facts.id, name: facts.name };
    }
    const hostname = this.hostname;
    if (hostname && looksLikeShortId(hostname)) {
      const facts = await this.inspectContainer(hostname);
      // By id only: on the host (or with --hostname), a container that happens to be named like it is not us.
      if (facts?.id.startsWith(hostname) && facts.running) return { id: facts.id, name: facts.name };
    }
    return null;
  }

  /**
   * Join the agent's container to `<runtime>_internal` so `run_command` reaches the runtime. On the host there is
   * nothing to join: the bridge's addresses are routable from the host itself. A network that is not the runtime's
   * own (see `internalNetworkProblem`) is never joined: the agent would put itself on someone else's network.
   */
  async joinInternal(runtimeName: string, opts: { oldAgentRuntime?: boolean } = {}): Promise<'joined' | 'host'> {
    const self = await this.findSelf();
    if (!self) return 'host';
    const { network, problem } = await this.internalNetworkProblem(runtimeName, opts);
    if (problem) throw new Conflict(problem);
    if (!network)
      throw new NotFound(`Network ${internalNetworkName(runtimeName)} does not exist; create ${runtimeName} again.`);
    await this.connect(network.id, self.id);
    return 'joined';
  }

  /** Leave `<runtime>_internal` (before removing it). */
  async leaveInternal(runtimeName: string): Promise<void> {
    const self = await this.findSelf();
    if (!self) return;
    await this.disconnect(internalNetworkName(runtimeName), self.id);
  }
}
