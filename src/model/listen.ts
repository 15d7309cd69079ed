/**
 * A TCP address the agent listens on (the inspector, the metrics endpoint), and whether it stays on this host.
 * Shared by the configuration (which refuses a remote inspector without a token) and the servers themselves
 * (which check again before they listen).
 */
export interface ListenAddress {
  host: string;
  port: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const isIPv4 = (text: string) => IPV4.test(text);
// Enough to tell the forms apart: a host name never holds a colon.
const isIPv6 = (text: string) => text.includes(':');

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`: addresses no other machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === 'localhost') return true;
  if (isIPv4(bare)) return bare.startsWith('127.');
  if (isIPv6(bare)) {
    const lower = bare.toLowerCase();
    if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

/** `host:port` as a person writes it (IPv6 in brackets). */
export function showListenAddress(address: ListenAddress): string {
  return `${isIPv6(address.host) ? `[${address.host}]` : address.host}:${address.port}`;
}

/** The URL of an HTTP server at this address (the port it actually got, when it asked for 0). */
export function httpUrlOf(address: ListenAddress): string {
  return `http://${showListenAddress(address)}`;
}
