import { readdir, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';

/**
 * DHCP clients left behind by an earlier sidecar process. The sidecar starts every udhcpc with
 * `ORCH_DHCP_LEASE_DIR=<its lease dir>` in the environment; a sidecar killed with SIGKILL leaves those
 * clients running, and the agent's resync after reconnecting would start a second client per vNIC
 * (two DHCP clients fighting over one interface). Returns the PIDs of such processes.
 */
export async function findOrphanDhcpClients(leaseDir: string, procRoot = '/proc'): Promise<number[]> {
  const marker = `ORCH_DHCP_LEASE_DIR=${leaseDir}`;
  const found: number[] = [];
  for (const entry of await readdir(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    // A process may exit between readdir and read: skip whatever cannot be read.
    const environ = await readFile(`${procRoot}/${entry}/environ`, 'utf8').catch(() => '');
    if (!environ.split('\0').includes(marker)) continue;
    const cmdline = await readFile(`${procRoot}/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg === 'udhcpc' || arg.endsWith('/udhcpc'))) found.push(pid);
  }
  return found;
}

/** Ends the previous sidecar's DHCP clients before this one starts its own. */
export async function endOrphanDhcpClients(leaseDir: string, log: Logger, procRoot = '/proc'): Promise<number> {
  const pids = await findOrphanDhcpClients(leaseDir, procRoot);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
  if (pids.length > 0)
    log.warn({ pids }, 'ended DHCP clients left behind by a previous sidecar; they restart on the next start_dhcp');
  return pids.length;
}
