/** IPv4 networks as numbers: parsing, overlap and splitting a pool into equal subnets. Pure. */

export interface Ipv4Network {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function ipv4Number(text: string): number | null {
  const parts = text.trim().split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function ipv4Text(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** `a.b.c.d/n` (a bare address is a /32), reduced to its network; null when it is not IPv4. */
export function parseIpv4Network(cidr: string): Ipv4Network | null {
  const [address = '', prefixText] = cidr.trim().split('/');
  const ip = ipv4Number(address);
  const prefix = prefixText === undefined ? 32 : /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (ip === null || !(prefix >= 0 && prefix <= 32)) return null;
  const size = 2 ** (32 - prefix);
  return { base: ip - (ip % size), prefix };
}

export function networkText(net: Ipv4Network): string {
  return `${ipv4Text(net.base)}/${net.prefix}`;
}

export function networkSize(net: Ipv4Network): number {
  return 2 ** (32 - net.prefix);
}

/** Whether two networks share an address (one contains the other, or they are the same). */
export function overlaps(a: Ipv4Network, b: Ipv4Network): boolean {
  return a.base < b.base + networkSize(b) && b.base < a.base + networkSize(a);
}

/** The `/size` subnets of `pool`, in address order. */
export function* subnetsOf(pool: Ipv4Network, size: number): Generator<Ipv4Network> {
  const step = 2 ** (32 - size);
  for (let base = pool.base; base + step <= pool.base + networkSize(pool); base += step) {
    yield { base, prefix: size };
  }
}
