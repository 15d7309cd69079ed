import { spawn } from 'node:child_process';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { endOrphanDhcpClients, findOrphanDhcpClients } from '../src/orphans.js';

/** A process that looks like a udhcpc started by a sidecar with the given lease dir. */
function fakeClient(leaseDir: string) {
  const child = spawn('bash', ['-c', 'exec -a udhcpc sleep 60'], {
    env: { PATH: process.env.PATH ?? '', ORCH_DHCP_LEASE_DIR: leaseDir },
    stdio: 'ignore',
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  );
  return { child, exited };
}

describe('DHCP clients left behind by a previous sidecar', () => {
  it('ends the clients of this lease dir and leaves others alone', async () => {
    const mine = fakeClient('/tmp/t7-orphans-mine/dhcp');
    const other = fakeClient('/tmp/t7-orphans-other/dhcp');
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await findOrphanDhcpClients('/tmp/t7-orphans-mine/dhcp')).toEqual([mine.child.pid]);
      expect(await endOrphanDhcpClients('/tmp/t7-orphans-mine/dhcp', pino({ level: 'silent' }))).toBe(1);
      expect(await mine.exited).toBe('SIGTERM');
      expect(other.child.exitCode).toBeNull();
      expect(other.child.signalCode).toBeNull();
    } finally {
      mine.child.kill('SIGKILL');
      other.child.kill('SIGKILL');
    }
  });
});
