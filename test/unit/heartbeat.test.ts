import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import { HeartbeatEvent, heartbeatPayload } from '../../src/io/cloud/heartbeat.js';
import { buildVersion as agentVersion } from '../../src/version.js';
import pkg from '../../package.json' with { type: 'json' };

const check = Compile(HeartbeatEvent);
const metrics = {
  cpuPercent: 12.34,
  memoryUsedGiB: 2.46,
  memoryTotalGiB: 15.5,
  diskUsedGiB: 45.84,
  diskTotalGiB: 228.3,
  uptimeSeconds: 86_400.7,
};

describe('heartbeat agent_version', () => {
  it("sends agent_version second, as the old agent's newest releases do, and matches the event contract", () => {
    const payload = heartbeatPayload({ id: '07048933', version: 'v1.2.6' }, metrics, new Date(2026, 3, 10, 20, 30, 45));
    expect(Object.keys(payload)).toEqual([
      'agent_id',
      'agent_version',
      'cpu_usage',
      'memory_usage',
      'memory_total',
      'disk_usage',
      'disk_total',
      'uptime',
      'status',
      'timestamp',
    ]);
    expect(payload).toMatchObject({ agent_id: '07048933', agent_version: 'v1.2.6', uptime: 86_400, status: 'active' });
    expect(check.Check(payload)).toBe(true);
  });

  it('refuses, as the contract, a heartbeat whose agent_version is missing, not a string or empty', () => {
    const payload = heartbeatPayload({ id: 'a', version: '1.0.0' }, metrics);
    const { agent_version: _dropped, ...missing } = payload;
    expect(check.Check(missing)).toBe(false);
    for (const wrong of [1, null, true, {}, '', '   ']) {
      expect(check.Check({ ...payload, agent_version: wrong }), JSON.stringify(wrong)).toBe(false);
    }
  });

  it('takes the version from AGENT_VERSION when the image stamps it, else from package.json', () => {
    expect(agentVersion({ AGENT_VERSION: 'v1.2.6' })).toBe('v1.2.6');
    expect(agentVersion({ AGENT_VERSION: '  dev  ' })).toBe('dev');
    for (const unusable of [undefined, '', '   ', 'v1\n2', 'x\u0007']) {
      expect(agentVersion({ AGENT_VERSION: unusable }), JSON.stringify(unusable)).toBe(pkg.version);
    }
    expect(agentVersion({ AGENT_VERSION: 'v'.repeat(300) })).toHaveLength(128);
  });
});
