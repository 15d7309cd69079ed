/**
 * Which processes `start_dhcp` and `set_mac` may act on. The sidecar runs with the host's PID namespace and network
 * privileges: given PID 1, or any process that shares the host's network namespace, `set_mac` would change a host
 * NIC's MAC and a DHCP client's hook would replace the host's addresses and default route. So the target must be a
 * runtime container's main process:
 *
 * - not PID 1 of the host;
 * - in a network namespace of its own: not the host's (PID 1's) and not the sidecar's (host networking);
 * - the first process of a PID namespace of its own (`NSpid` ends in 1): what Docker reports as a container's
 *   `State.Pid`. A process that merely entered some namespace (`nsenter`, `ip netns exec`) is not a container.
 */
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Why `pid` is not a runtime container's main process, or null when it is. `procRoot` for tests. */
export async function notARuntimeContainer(pid: number, procRoot = '/proc'): Promise<string | null> {
  if (pid === 1) return "PID 1 is the host's init, not a runtime container";
  const netns = await readlink(join(procRoot, String(pid), 'ns', 'net')).catch(() => null);
  // Gone (or unreadable): nothing can be entered either, and the command fails with its own sentence for that.
  if (netns === null) return null;
  const [hostNetns, ownNetns] = await Promise.all([
    readlink(join(procRoot, '1', 'ns', 'net')).catch(() => null),
    readlink(join(procRoot, 'self', 'ns', 'net')).catch(() => null),
  ]);
  if (netns === hostNetns || netns === ownNetns) return `process ${pid} uses the host's network namespace`;
  const status = await readFile(join(procRoot, String(pid), 'status'), 'utf8').catch(() => '');
  const nspid = /^NSpid:\s*(.+)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
  if (nspid.length < 2 || nspid.at(-1) !== '1') {
    return `process ${pid} is not the main process of a container (it is not the first process of a PID namespace of its own)`;
  }
  return null;
}

/** The refusal sentence for a command aimed at such a process. */
export function refusedTarget(command: string, pid: number, why: string): string {
  return `Refusing ${command} for process ${pid}: ${why}; the network monitor only acts inside a runtime container's own network namespace (send the container's State.Pid)`;
}
