/**
 * The agent <-> network-monitor sidecar protocol (docs/protocol.md#network-monitor-sidecar-protocol).
 *
 * Transport: a Unix stream socket (default {@link DEFAULT_SOCKET_PATH}) carrying UTF-8 JSON objects, one per line.
 * - sidecar -> agent: **events** (they have a `type` and a `data` object) and **replies** (they never have `type`).
 * - agent -> sidecar: **commands** `{ command, id?, ...fields }`. Every command line gets exactly one reply line; the
 *   reply echoes the command's `id` (string or number) when it had one. Commands without an `id` are answered too, so
 *   the old agent, which never reads replies, keeps working.
 *
 * Event shapes keep every field of the old sidecar field for field; fields marked "added" are new and optional to
 * readers. This file is the only part of the sidecar the agent imports: types and TypeBox schemas, no Node I/O.
 */
import Type, { type Static } from 'typebox';

export const DEFAULT_SOCKET_PATH = '/var/orchestrator/netmon.sock';
export const DEFAULT_DATA_DIR = '/var/orchestrator';
/** A line longer than this (bytes, without the newline) is discarded and answered with an {@link ErrorEvent}. */
export const MAX_LINE_BYTES = 1024 * 1024;
export const LINE_TOO_LONG_ERROR = 'line exceeds 1 MiB; discarded';
/** Host interfaces the agent creates for itself start with this prefix; the sidecar never reports them. */
export const OWN_SHIM_PREFIX = 'orch-';
/** Interfaces that are never reported: loopback, Docker's bridges and container veths, and our own shims. */
export const IGNORED_INTERFACE_NAMES: readonly string[] = ['lo', 'docker0'];
export const IGNORED_INTERFACE_PREFIXES: readonly string[] = ['veth', 'br-', OWN_SHIM_PREFIX];
/** Per-interface quiet period before a `network_change` is sent (the old sidecar had one timer for all). */
export const NETWORK_DEBOUNCE_MS = 3000;

const Nullable = <T extends Type.TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const CommandId = Type.Union([Type.String(), Type.Number()]);

// ---------------------------------------------------------------------------------------------------------------
// Events (sidecar -> agent)
// ---------------------------------------------------------------------------------------------------------------

/** The old agent's `_proxy_arp_config` (runtime_vnics.json): what a bridge is made of. */
export const ProxyArpConfig = Type.Object({
  veth_host: Type.String(),
  veth_container: Type.String(),
  ip_address: Type.String(),
  gateway: Type.String(),
  parent_interface: Type.String(),
});
export type ProxyArpConfig = Static<typeof ProxyArpConfig>;

export const Ipv4Address = Type.Object({
  address: Type.String(),
  prefixlen: Type.Integer(),
  /** CIDR of the network, e.g. `192.168.1.0/24`. */
  subnet: Type.String(),
  network_address: Type.String(),
});
export type Ipv4Address = Static<typeof Ipv4Address>;

/**
 * Why an interface is (or is not) usable. Added: the old sidecar only ever reported `up`.
 * - `up`: link up and at least one IPv4 address.
 * - `no_ipv4`: link up, no IPv4 address (e.g. a MACVLAN parent without an address on the host).
 * - `down`: link down (cable pulled, administratively down); `ipv4_addresses` is empty and `gateway` null.
 * - `removed`: the interface no longer exists on the host (only in `network_change`).
 */
export const InterfaceStatus = Type.Union([
  Type.Literal('up'),
  Type.Literal('no_ipv4'),
  Type.Literal('down'),
  Type.Literal('removed'),
]);
export type InterfaceStatus = Static<typeof InterfaceStatus>;

/** The interface object of `network_discovery` and `network_change` (docs/protocol.md#interface-object). */
export const InterfaceInfo = Type.Object({
  interface: Type.String(),
  index: Type.Integer(),
  /** The kernel's operstate (`UP`, `DOWN`, `LOWERLAYERDOWN`, `UNKNOWN`, ...). */
  operstate: Type.String(),
  /** Usable IPv4 addresses: empty unless `status` is `up`. */
  ipv4_addresses: Type.Array(Ipv4Address),
  /** Gateway of the first IPv4 default route leaving through this interface. */
  gateway: Nullable(Type.String()),
  /** ISO local time without zone, as the old sidecar wrote it (`YYYY-MM-DDTHH:MM:SS.ffffff`). */
  timestamp: Type.String(),
  /** Added. */
  status: InterfaceStatus,
  /** Added: the link-layer address, lower case; null for a removed interface or one without one. */
  mac_address: Nullable(Type.String()),
  /**
   * Added: a hardware port — the kernel has a device behind it (`/sys/class/net/<if>/device`: PCI, USB, virtio, SoC).
   * Bridges, VLANs, bonds, veths, tunnels and VPNs are false. Old sidecars leave it out.
   */
  physical: Type.Optional(Type.Boolean()),
  /**
   * Added in the old sidecar's newest releases: `wifi` when sysfs has `wireless` or `phy80211` for it or its name
   * starts with `wlan`, `wlp` or `wlx`; else `ethernet`. A WiFi parent cannot carry MACVLAN (docs/protocol.md#wifi-vnics).
   */
  type: Type.Optional(Type.Union([Type.Literal('wifi'), Type.Literal('ethernet')])),
});
export type InterfaceInfo = Static<typeof InterfaceInfo>;

export const NetworkDiscoveryEvent = Type.Object({
  type: Type.Literal('network_discovery'),
  data: Type.Object({
    /** Every reported interface, including those down or without IPv4 (their `ipv4_addresses` is empty). */
    interfaces: Type.Array(InterfaceInfo),
    timestamp: Type.String(),
  }),
});
export type NetworkDiscoveryEvent = Static<typeof NetworkDiscoveryEvent>;

/** Sent once an interface has been quiet for {@link NETWORK_DEBOUNCE_MS} and its reported view differs. */
export const NetworkChangeEvent = Type.Object({
  type: Type.Literal('network_change'),
  data: InterfaceInfo,
});
export type NetworkChangeEvent = Static<typeof NetworkChangeEvent>;

export const DhcpUpdateEvent = Type.Object({
  type: Type.Literal('dhcp_update'),
  data: Type.Object({
    container_name: Type.String(),
    vnic_name: Type.String(),
    mac_address: Type.String(),
    ip: Type.String(),
    /** As udhcpc passed it: a prefix length (`24`, busybox) or a dotted netmask. */
    mask: Type.String(),
    /** The real prefix length, whatever form `mask` took. */
    prefix: Type.Integer(),
    /** The lease's `router` option: possibly empty or a space-separated list. */
    gateway: Type.String(),
    /** Space-separated DNS servers from the lease (may be empty). */
    dns: Type.String(),
    /** Lease time in seconds, as a string. */
    lease_time: Type.String(),
    /** `date -Iseconds` of the hook run. */
    timestamp: Type.String(),
    /** Added: the interface name inside the runtime's network namespace. */
    interface: Type.String(),
    /** Added: the DNS search domain from the lease (may be empty). */
    domain: Type.String(),
    /** Added: `bound` or `renew`. */
    event: Type.String(),
    /**
     * A WiFi vNIC's lease (request_wifi_dhcp): the Proxy-ARP bridge the sidecar built for it; absent when it could
     * not be built (then the lease is reported all the same, and `proxy_arp_error` says why).
     */
    proxy_arp_config: Type.Optional(ProxyArpConfig),
    proxy_arp_error: Type.Optional(Type.String()),
  }),
});
export type DhcpUpdateEvent = Static<typeof DhcpUpdateEvent>;

/**
 * A serial device (docs/protocol.md#serial-device-object). Any property other than `path` and `subsystem` may be
 * null.
 */
export const SerialDevice = Type.Object({
  path: Type.String(),
  by_id: Nullable(Type.String()),
  major: Nullable(Type.Integer()),
  minor: Nullable(Type.Integer()),
  vendor_id: Nullable(Type.String()),
  product_id: Nullable(Type.String()),
  serial: Nullable(Type.String()),
  subsystem: Type.String(),
  manufacturer: Nullable(Type.String()),
  product: Nullable(Type.String()),
});
export type SerialDevice = Static<typeof SerialDevice>;

export const DeviceDiscoveryEvent = Type.Object({
  type: Type.Literal('device_discovery'),
  data: Type.Object({ devices: Type.Array(SerialDevice), timestamp: Type.String() }),
});
export type DeviceDiscoveryEvent = Static<typeof DeviceDiscoveryEvent>;

/**
 * A serial device appeared or disappeared. An `add` is sent again for a known path when its identity changes
 * (typically `by_id` appearing a moment after the node, when udev has created the symlink).
 */
export const DeviceChangeEvent = Type.Object({
  type: Type.Literal('device_change'),
  data: Type.Object({
    action: Type.Union([Type.Literal('add'), Type.Literal('remove')]),
    device: SerialDevice,
  }),
});
export type DeviceChangeEvent = Static<typeof DeviceChangeEvent>;

/** Added: a problem with the stream itself (e.g. an oversized line), not tied to any command. */
export const ErrorEvent = Type.Object({ type: Type.Literal('error'), error: Type.String() });
export type ErrorEvent = Static<typeof ErrorEvent>;

export const SidecarEvent = Type.Union([
  NetworkDiscoveryEvent,
  NetworkChangeEvent,
  DhcpUpdateEvent,
  DeviceDiscoveryEvent,
  DeviceChangeEvent,
  ErrorEvent,
]);
export type SidecarEvent = Static<typeof SidecarEvent>;

// ---------------------------------------------------------------------------------------------------------------
// Commands (agent -> sidecar)
// ---------------------------------------------------------------------------------------------------------------

/**
 * Start (or keep) a DHCP client for one vNIC of a runtime, inside the runtime's network namespace. A repeated
 * command with the same PID and MAC is a no-op; a different PID (the runtime restarted) or MAC replaces the client.
 * The sidecar also accepts `container_pid` as a numeric string, as the old sidecar did.
 */
export const StartDhcpCommand = Type.Object({
  command: Type.Literal('start_dhcp'),
  id: Type.Optional(CommandId),
  container_name: Type.String(),
  vnic_name: Type.String(),
  mac_address: Type.String(),
  container_pid: Type.Integer(),
});
export type StartDhcpCommand = Static<typeof StartDhcpCommand>;

export const StopDhcpCommand = Type.Object({
  command: Type.Literal('stop_dhcp'),
  id: Type.Optional(CommandId),
  container_name: Type.String(),
  vnic_name: Type.String(),
});
export type StopDhcpCommand = Static<typeof StopDhcpCommand>;

export const GetDhcpStatusCommand = Type.Object({
  command: Type.Literal('get_dhcp_status'),
  id: Type.Optional(CommandId),
});
export type GetDhcpStatusCommand = Static<typeof GetDhcpStatusCommand>;

export const GetDeviceStatusCommand = Type.Object({
  command: Type.Literal('get_device_status'),
  id: Type.Optional(CommandId),
});
export type GetDeviceStatusCommand = Static<typeof GetDeviceStatusCommand>;

export const DiscoverDevicesCommand = Type.Object({
  command: Type.Literal('discover_devices'),
  id: Type.Optional(CommandId),
});
export type DiscoverDevicesCommand = Static<typeof DiscoverDevicesCommand>;

/**
 * Added. Give a runtime's vNIC a chosen MAC inside its network namespace: the interface that has `current_mac` gets
 * `mac_address` (no link down/up: the kernel changes a macvlan's address while it is up). The agent sends it after
 * a network move, where Docker cannot choose the MAC of the network it connects, so the vNIC keeps its MAC.
 * Succeeds without change when an interface already has `mac_address`. Replies with a MessageReply.
 */
export const SetMacCommand = Type.Object({
  command: Type.Literal('set_mac'),
  id: Type.Optional(CommandId),
  container_pid: Type.Integer(),
  current_mac: Type.String(),
  mac_address: Type.String(),
});
export type SetMacCommand = Static<typeof SetMacCommand>;

/**
 * Added. The host's IPv4 routes, so the agent (in its own network namespace) can give a runtime's internal network a
 * subnet the host does not use. Replies with a HostRoutesReply.
 */
export const GetHostRoutesCommand = Type.Object({
  command: Type.Literal('get_host_routes'),
  id: Type.Optional(CommandId),
});
export type GetHostRoutesCommand = Static<typeof GetHostRoutesCommand>;

/**
 * The state of the sidecar's kernel link watch (the newest old sidecar's netlink reader): replied with a
 * NetlinkStatusReply.
 */
export const GetNetlinkStatusCommand = Type.Object({
  command: Type.Literal('get_netlink_status'),
  id: Type.Optional(CommandId),
});
export type GetNetlinkStatusCommand = Static<typeof GetNetlinkStatusCommand>;

/** Everything the sidecar knows of itself at once: replied with a StatusReply. */
export const GetStatusCommand = Type.Object({
  command: Type.Literal('get_status'),
  id: Type.Optional(CommandId),
});
export type GetStatusCommand = Static<typeof GetStatusCommand>;
const NicFields = {
  id: Type.Optional(CommandId),
  /** The host interface (at most 15 characters of `[a-zA-Z0-9_.-]`). */
  host_interface: Type.String(),
  /** `State.Pid` of the runtime container. */
  container_pid: Type.Integer(),
};

/** Move a host NIC into a runtime's network namespace and bring it up there (docs/protocol.md#dedicated-nics). */
export const MoveNicCommand = Type.Object({ command: Type.Literal('move_nic_to_container'), ...NicFields });
export type MoveNicCommand = Static<typeof MoveNicCommand>;
/** Give a dedicated NIC back to the host's network namespace and bring it up there. */
export const ReturnNicCommand = Type.Object({ command: Type.Literal('return_nic_to_host'), ...NicFields });
export type ReturnNicCommand = Static<typeof ReturnNicCommand>;
/** Whether the NIC is inside the runtime's network namespace: replies with a NicPresenceReply. */
export const CheckNicCommand = Type.Object({ command: Type.Literal('check_nic_in_container'), ...NicFields });
export type CheckNicCommand = Static<typeof CheckNicCommand>;

/**
 * Join a runtime to a WiFi network through a Proxy-ARP bridge (docs/protocol.md#wifi-vnics): a veth pair, the
 * runtime end with `ip_address`/prefix and the default route via `gateway`, a /32 host route and a proxy neighbour
 * on the WiFi interface. Added: `vnic_name` (names the pair, so two WiFi vNICs or two runtimes never collide).
 */
export const SetupProxyArpCommand = Type.Object({
  command: Type.Literal('setup_proxy_arp_bridge'),
  id: Type.Optional(CommandId),
  container_name: Type.String(),
  vnic_name: Type.Optional(Type.String()),
  container_pid: Type.Integer(),
  parent_interface: Type.String(),
  ip_address: Type.String(),
  gateway: Type.String(),
  /** Dotted mask, prefix length or `a/b`; default `255.255.255.0`. */
  subnet_mask: Type.Optional(Type.String()),
});
export type SetupProxyArpCommand = Static<typeof SetupProxyArpCommand>;

export const CleanupProxyArpCommand = Type.Object({
  command: Type.Literal('cleanup_proxy_arp_bridge'),
  id: Type.Optional(CommandId),
  container_name: Type.String(),
  vnic_name: Type.Optional(Type.String()),
  ip_address: Type.Optional(Nullable(Type.String())),
  parent_interface: Type.Optional(Nullable(Type.String())),
  veth_host: Type.Optional(Nullable(Type.String())),
});
export type CleanupProxyArpCommand = Static<typeof CleanupProxyArpCommand>;

/** Remove every Proxy-ARP bridge this sidecar made (self-destruct): only links it marked as its own. */
export const CleanupAllProxyArpCommand = Type.Object({
  command: Type.Literal('cleanup_all_proxy_arp'),
  id: Type.Optional(CommandId),
});
export type CleanupAllProxyArpCommand = Static<typeof CleanupAllProxyArpCommand>;

/**
 * A DHCP lease for a WiFi vNIC: udhcpc on the WiFi interface in the host's namespace with client id (option 61)
 * `client_id` (default `<container>:<vnic>`), never touching that interface; on every lease the sidecar builds the
 * Proxy-ARP bridge and reports `dhcp_update` with `proxy_arp_config`.
 */
export const RequestWifiDhcpCommand = Type.Object({
  command: Type.Literal('request_wifi_dhcp'),
  id: Type.Optional(CommandId),
  container_name: Type.String(),
  vnic_name: Type.String(),
  parent_interface: Type.String(),
  container_pid: Type.Integer(),
  client_id: Type.Optional(Type.String()),
});
export type RequestWifiDhcpCommand = Static<typeof RequestWifiDhcpCommand>;

/** Added: end a WiFi vNIC's DHCP client and remove its bridge. */
export const StopWifiDhcpCommand = Type.Object({
  command: Type.Literal('stop_wifi_dhcp'),
  id: Type.Optional(CommandId),
  container_name: Type.String(),
  vnic_name: Type.String(),
});
export type StopWifiDhcpCommand = Static<typeof StopWifiDhcpCommand>;

export const SidecarCommand = Type.Union([
  MoveNicCommand,
  ReturnNicCommand,
  CheckNicCommand,
  SetupProxyArpCommand,
  CleanupProxyArpCommand,
  CleanupAllProxyArpCommand,
  RequestWifiDhcpCommand,
  StopWifiDhcpCommand,
  StartDhcpCommand,
  SetMacCommand,
  GetHostRoutesCommand,
  StopDhcpCommand,
  GetDhcpStatusCommand,
  GetDeviceStatusCommand,
  DiscoverDevicesCommand,
  GetNetlinkStatusCommand,
  GetStatusCommand,
]);
export type SidecarCommand = Static<typeof SidecarCommand>;
export type SidecarCommandName = SidecarCommand['command'];

/** How long the sidecar lets each command run before it answers with a timeout failure. */
export const COMMAND_TIMEOUT_MS: Readonly<Record<SidecarCommandName, number>> = {
  start_dhcp: 15_000,
  stop_dhcp: 10_000,
  get_dhcp_status: 5_000,
  get_device_status: 5_000,
  discover_devices: 5_000,
  set_mac: 8_000,
  get_host_routes: 5_000,
  get_netlink_status: 5_000,
  get_status: 5_000,
  move_nic_to_container: 10_000,
  return_nic_to_host: 10_000,
  check_nic_in_container: 5_000,
  setup_proxy_arp_bridge: 10_000,
  cleanup_proxy_arp_bridge: 10_000,
  cleanup_all_proxy_arp: 20_000,
  request_wifi_dhcp: 10_000,
  stop_wifi_dhcp: 10_000,
};

// ---------------------------------------------------------------------------------------------------------------
// Replies (sidecar -> agent): never carry `type`
// ---------------------------------------------------------------------------------------------------------------

/**
 * Any command can fail this way: validation (`Missing container_name`, ...), `Unknown command: <cmd>`,
 * `Invalid JSON` (then without `id`, since none could be read), a timeout, or an operation failure.
 */
export const FailureReply = Type.Object({
  id: Type.Optional(CommandId),
  success: Type.Literal(false),
  error: Type.String(),
});
export type FailureReply = Static<typeof FailureReply>;

/** `start_dhcp`, `stop_dhcp` and `set_mac` success: `DHCP client started for <ifname>`, `DHCP client already running`, ... */
export const MessageReply = Type.Object({
  id: Type.Optional(CommandId),
  success: Type.Literal(true),
  message: Type.String(),
});
export type MessageReply = Static<typeof MessageReply>;

export const DhcpClientState = Type.Union([
  Type.Literal('starting'),
  Type.Literal('running'),
  Type.Literal('restarting'),
  Type.Literal('waiting_for_container'),
]);
export type DhcpClientState = Static<typeof DhcpClientState>;

export const DhcpClientStatus = Type.Object({
  running: Type.Boolean(),
  /** PID of the udhcpc process (0 when none runs). */
  pid: Type.Integer(),
  last_ip: Nullable(Type.String()),
  /** Interface name inside the runtime's network namespace. */
  interface: Type.String(),
  /** Added. */
  state: DhcpClientState,
  container_pid: Type.Integer(),
  mac_address: Type.String(),
  restarts: Type.Integer(),
  last_error: Nullable(Type.String()),
});
export type DhcpClientStatus = Static<typeof DhcpClientStatus>;

export const DhcpStatusReply = Type.Object({
  id: Type.Optional(CommandId),
  success: Type.Literal(true),
  /** Keyed by `<container_name>:<vnic_name>`. */
  status: Type.Record(Type.String(), DhcpClientStatus),
});
export type DhcpStatusReply = Static<typeof DhcpStatusReply>;

export const DeviceStatusReply = Type.Object({
  id: Type.Optional(CommandId),
  success: Type.Literal(true),
  status: Type.Object({
    running: Type.Boolean(),
    /** Kept for old readers: true when serial monitoring works (here from sysfs, without udev). */
    pyudev_available: Type.Boolean(),
    cached_devices: Type.Integer(),
    devices: Type.Array(SerialDevice),
  }),
});
export type DeviceStatusReply = Static<typeof DeviceStatusReply>;

export const DiscoverDevicesReply = Type.Object({
  id: Type.Optional(CommandId),
  success: Type.Literal(true),
  devices: Type.Array(SerialDevice),
});
export type DiscoverDevicesReply = Static<typeof DiscoverDevicesReply>;

export const HostRoutesReply = Type.Object({
  id: Type.Optional(CommandId),
  success: Type.Literal(true),
  /** Every destination of the host's IPv4 routing tables as a CIDR, default route and multicast left out. */
  routes: Type.Array(Type.String()),
});
export type HostRoutesReply = Static<typeof HostRoutesReply>;

/**
 * The kernel link watch, in the newest old sidecar's keys. Here the watch is an `ip monitor` child process holding the
 * netlink socket: `running` while the sidecar watches (also while the child is being restarted), `socket_active`
 * while the child runs, `consecutive_errors` the monitor exits and failed kernel reads since the last good read,
 * `degraded` when the child is down or errors have not yet been followed by a good read.
 */
export const NetlinkStatus = Type.Object({
  running: Type.Boolean(),
  degraded: Type.Boolean(),
  consecutive_errors: Type.Integer(),
  socket_active: Type.Boolean(),
});
export type NetlinkStatus = Static<typeof NetlinkStatus>;

export const NetlinkStatusReply = Type.Object({
  id: Type.Optional(CommandId),
  success: Type.Literal(true),
  status: NetlinkStatus,
});
export type NetlinkStatusReply = Static<typeof NetlinkStatusReply>;

export const StatusReply = Type.Object({
  id: Type.Optional(CommandId),
  success: Type.Literal(true),
  status: Type.Object({
    netlink: NetlinkStatus,
    /** As in DhcpStatusReply. */
    dhcp: Type.Record(Type.String(), DhcpClientStatus),
    /** As in DeviceStatusReply. */
    devices: DeviceStatusReply.properties.status,
    /** Agents connected to the socket (the one asking included). */
    clients_connected: Type.Integer(),
    /** Interfaces whose change is waiting out its quiet period ({@link NETWORK_DEBOUNCE_MS}). */
    pending_changes: Type.Array(Type.String()),
    /** Added: the sidecar's own version (AGENT_VERSION when its image stamps it, else package.json). */
    version: Type.String(),
  }),
});
export type StatusReply = Static<typeof StatusReply>;
/** `check_nic_in_container`. */
export const NicPresenceReply = Type.Object({
  id: Type.Optional(CommandId),
  success: Type.Literal(true),
  present: Type.Boolean(),
});
export type NicPresenceReply = Static<typeof NicPresenceReply>;

/** `setup_proxy_arp_bridge`. */
export const ProxyArpReply = Type.Object({
  id: Type.Optional(CommandId),
  success: Type.Literal(true),
  proxy_arp_config: ProxyArpConfig,
});
export type ProxyArpReply = Static<typeof ProxyArpReply>;

/** `cleanup_all_proxy_arp`. */
export const CleanupAllReply = Type.Object({
  id: Type.Optional(CommandId),
  success: Type.Literal(true),
  veths_removed: Type.Integer(),
});
export type CleanupAllReply = Static<typeof CleanupAllReply>;

/** `move_nic_to_container`, `return_nic_to_host`, `cleanup_proxy_arp_bridge`: success without more to say. */
export const OkReply = Type.Object({ id: Type.Optional(CommandId), success: Type.Literal(true) });
export type OkReply = Static<typeof OkReply>;

export const SidecarReply = Type.Union([
  FailureReply,
  NicPresenceReply,
  ProxyArpReply,
  CleanupAllReply,
  MessageReply,
  HostRoutesReply,
  DhcpStatusReply,
  DeviceStatusReply,
  DiscoverDevicesReply,
  NetlinkStatusReply,
  StatusReply,
  OkReply,
]);
export type SidecarReply = Static<typeof SidecarReply>;

/** Key of a DHCP client, as in the old sidecar: `<container_name>:<vnic_name>`. */
export function dhcpKey(containerName: string, vnicName: string): string {
  return `${containerName}:${vnicName}`;
}
