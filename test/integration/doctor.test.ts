import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CheckResult,
  checkCertificates,
  checkClock,
  checkCloud,
  checkDataDir,
  checkDisk,
  checkDocker,
  checkParents,
  checkRlimits,
  checkSidecar,
  type DoctorContext,
} from '../../src/cli/doctor/checks.js';
import { parseConfig } from '../../src/config.js';
import { issueCertificate } from '../../src/io/pki/certificates.js';
import { LocalEndpoint } from '../../src/io/local/endpoint.js';
import { writeEndpointFile } from '../../src/io/local/endpointFile.js';
import { CTL_COMMON_NAME, ensureLocalPki, localLayout } from '../../src/io/pki/localPki.js';
import { BUILT_ENTRY, ensureBuilt } from '../support/agentProcess.js';
import { makeTestPki, type TestPki } from '../support/certs.js';
import { startTestCloud, type TestCloud } from '../support/cloudServer.js';
import { dockerOrSkip } from '../support/docker.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * Each doctor check against the real part it looks at, once passing and once failing: a throw-away dockerd that is
 * stopped, a missing and a downed interface, an expired certificate made here, a cloud that went away, a cloud whose
 * clock is an hour off, a full file system, a file where the data folder should be, ulimits the engine refuses.
 */

const sh = promisify(execFile);
let work: string;
let pki: TestPki;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lm-doctor-'));
  pki = await makeTestPki(join(work, 'pki'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function context(argv: string[], extra: Partial<DoctorContext> = {}): Promise<DoctorContext> {
  const config = await parseConfig(['--data-dir', join(work, 'data'), ...argv], { HOME: work }, { checkFiles: false });
  return { config, parents: [], now: new Date(), command: 'orchestrator-agent', ...extra };
}

const statuses = (results: CheckResult[]) => results.map((r) => r.status);

describe('doctor: the Docker engine', () => {
  const dir = '/tmp/lm-doctor-dockerd';
  const socket = `${dir}/docker.sock`;
  const bridge = 'lmdocbr0';
  let dockerd: ReturnType<typeof spawn> | undefined;

  beforeAll(async () => {
    await mkdir(dir, { recursive: true });
    // Its own bridge: without one, a second dockerd would take the host's docker0 away from the shared engine.
    await sh('ip', ['link', 'add', bridge, 'type', 'bridge']).catch(() => {});
    await sh('ip', ['link', 'set', bridge, 'up']);
    dockerd = spawn(
      '/usr/sbin/dockerd',
      [
        '-H',
        `unix://${socket}`,
        '--data-root',
        `${dir}/data`,
        '--exec-root',
        `${dir}/exec`,
        '--pidfile',
        `${dir}/docker.pid`,
        '-b',
        bridge,
        '--iptables=false',
        '--ip-masq=false',
      ],
      { stdio: 'ignore', detached: true },
    );
  }, 60_000);
  afterAll(async () => {
    if (dockerd && dockerd.exitCode === null) dockerd.kill('SIGKILL');
    await sh('ip', ['link', 'del', bridge]).catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  });

  it('passes on a running engine and names its version, then fails once that engine is stopped', async () => {
    const ctx = await context([], {});
    ctx.config.dockerHost = { socketPath: socket };
    const up = await waitFor(
      async () => {
        const { result } = await checkDocker(ctx);
        return result.status === 'ok' && result;
      },
      { timeoutMs: 30_000, intervalMs: 250, message: 'the throw-away dockerd to answer' },
    );
    expect(up.detail).toMatch(new RegExp(`^Docker .+ \\(API 1\\.\\d+\\) answers at unix://${socket}$`));

    const exited = new Promise((resolve) => dockerd!.once('exit', resolve));
    dockerd!.kill('SIGTERM');
    await exited;
    const { result } = await checkDocker(ctx);
    expect(result).toMatchObject({
      check: 'docker',
      status: 'fail',
      detail: expect.stringMatching(
        new RegExp(`^no Docker engine answers at unix://${socket} \\(connect (ENOENT|ECONNREFUSED)`),
      ),
      fix: 'start dockerd (e.g. "systemctl start docker"), or point DOCKER_HOST at its socket',
    });
  }, 60_000);
});

describe('doctor: MACVLAN parent interfaces', () => {
  beforeAll(async () => {
    await sh('ip', ['link', 'del', 'lmdoc0']).catch(() => {});
    await sh('ip', ['link', 'add', 'lmdoc0', 'type', 'veth', 'peer', 'name', 'lmdoc1']);
    await sh('ip', ['link', 'set', 'lmdoc0', 'up']);
  });
  afterAll(async () => {
    await sh('ip', ['link', 'del', 'lmdoc0']).catch(() => {});
  });

  it('passes for an interface that is up and fails for a missing or a downed one', async () => {
    const results = await checkParents(await context([], { parents: ['lmdoc0', 'lmdocmissing0', 'lmdoc1'] }));
    expect(results).toEqual([
      { check: 'macvlan', status: 'ok', detail: 'parent interface lmdoc0 is up' },
      expect.objectContaining({ status: 'fail', detail: 'parent interface lmdocmissing0 does not exist on this host' }),
      {
        check: 'macvlan',
        status: 'fail',
        detail: 'parent interface lmdoc1 is down',
        fix: 'bring it up: ip link set lmdoc1 up',
      },
    ]);
  });

  it("checks the parents the vPLCs' records name", async () => {
    const ctx = await context([]);
    await mkdir(ctx.config.dataDir, { recursive: true });
    await writeFile(
      join(ctx.config.dataDir, 'runtime_vnics.json'),
      JSON.stringify({ plc1: [{ name: 'eth0', parent_interface: 'lmdocgone0', network_mode: 'dhcp' }] }),
    );
    expect(await checkParents(ctx)).toEqual([
      expect.objectContaining({ status: 'fail', detail: 'parent interface lmdocgone0 does not exist on this host' }),
    ]);
    await rm(join(ctx.config.dataDir, 'runtime_vnics.json'));
  });
});

describe('doctor: the sidecar', () => {
  it('passes when the real sidecar serves its socket and warns when nothing does', async () => {
    await ensureBuilt();
    const socket = join(work, 'netmon.sock');
    const sidecar = spawn(
      process.execPath,
      [join(BUILT_ENTRY, '../../sidecar/src/main.js'), '--socket', socket, '--data-dir', work],
      {
        stdio: 'ignore',
      },
    );
    try {
      const ctx = await context(['--netmon-socket', socket]);
      const up = await waitFor(async () => ((await checkSidecar(ctx)).status === 'ok' ? true : null), {
        timeoutMs: 15_000,
        message: 'the sidecar to answer',
      });
      expect(up).toBe(true);
    } finally {
      sidecar.kill('SIGTERM');
    }
    const missing = await checkSidecar(await context(['--netmon-socket', join(work, 'none.sock')]));
    expect(missing).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^no sidecar socket at /) });
  }, 30_000);
});

describe('doctor: certificates, the cloud and the clock', () => {
  let cloud: TestCloud;
  beforeAll(async () => {
    cloud = await startTestCloud({ pki });
  });
  afterAll(async () => {
    await cloud?.close();
  });

  const cloudArgs = (mtlsDir: string) => ['--cloud-url', cloud.url, '--mtls-dir', mtlsDir, '--ca-file', pki.caFile];

  it('passes for an enrolled certificate and names its CN', async () => {
    const [result] = await checkCertificates(await context(cloudArgs(pki.mtlsDir)));
    expect(result).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/^cloud client: .*client\.crt \(CN 07048933\) valid until \d{4}-\d\d-\d\d$/),
    });
  });

  it('fails for an expired certificate and for a missing one', async () => {
    const expired = join(work, 'mtls-expired');
    await mkdir(expired, { recursive: true });
    const day = 86_400_000;
    const ca = {
      certPem: pki.caPem,
      keyPem: await (await import('node:fs/promises')).readFile(join(pki.dir, 'ca.key'), 'utf8'),
    };
    const old = await issueCertificate({
      commonName: '07048933',
      role: 'client',
      notBefore: new Date(Date.now() - 30 * day),
      notAfter: new Date(Date.now() - day),
      issuer: ca,
    });
    await writeFile(join(expired, 'client.crt'), old.certPem);
    await writeFile(join(expired, 'client.key'), old.keyPem, { mode: 0o600 });
    const [result] = await checkCertificates(await context(cloudArgs(expired)));
    expect(result).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^cloud client: .*client\.crt \(CN 07048933\) expired on \d{4}-/),
      fix: expect.stringMatching(/^run the installer again to enrol this host/),
    });
    const [missing] = await checkCertificates(await context(cloudArgs(join(work, 'nowhere'))));
    expect(missing).toMatchObject({ status: 'fail', detail: expect.stringMatching(/client\.crt is missing$/) });
  });

  it('warns when the key can be read by others', async () => {
    const open = join(work, 'mtls-open');
    await mkdir(open, { recursive: true });
    await writeFile(join(open, 'client.crt'), pki.client.certPem);
    await writeFile(join(open, 'client.key'), pki.client.keyPem);
    await chmod(join(open, 'client.key'), 0o644);
    const [result] = await checkCertificates(await context(cloudArgs(open)));
    expect(result).toMatchObject({ status: 'warn', fix: `chmod 600 ${join(open, 'client.key')}` });
  });

  it('checks the local certificates in local mode', async () => {
    const ctx = await context(['--local']);
    await ensureLocalPki(ctx.config.dataDir, { agentCommonName: 'local-doctor', log: pino({ level: 'silent' }) });
    expect(statuses(await checkCertificates(ctx))).toEqual(['ok', 'ok']);
    const later = { ...ctx, now: new Date(Date.now() + 400 * 86_400_000) };
    expect(statuses(await checkCertificates(later))).toEqual(['ok', 'fail']);
  });

  it('reaches the cloud with the certificate, and fails once the cloud is gone', async () => {
    const reachable = await checkCloud(await context(cloudArgs(pki.mtlsDir)));
    expect(reachable.result).toEqual({
      check: 'cloud',
      status: 'ok',
      detail: `${cloud.url} accepts this host's certificate (07048933)`,
    });
    const refused = await checkCloud(await context(cloudArgs(pki.mtlsRogueDir)));
    expect(refused.result.status).toBe('fail');
    const clock = await checkClock(await context(cloudArgs(pki.mtlsDir)), true);
    expect(clock).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/^this host's clock is \d+ s (ahead of|behind) the cloud's/),
    });

    await cloud.stop();
    try {
      const gone = await checkCloud(await context(cloudArgs(pki.mtlsDir)));
      expect(gone.result).toMatchObject({
        status: 'fail',
        detail: expect.stringMatching(new RegExp(`^cannot connect to ${cloud.url}`)),
      });
    } finally {
      await cloud.restart();
    }
  }, 30_000);

  it('reaches the local endpoint in local mode, and fails when the running agent no longer answers', async () => {
    const ctx = await context(['--local', '--data-dir', join(work, 'data-local')]);
    const silent = pino({ level: 'silent' });
    const local = await ensureLocalPki(ctx.config.dataDir, { agentCommonName: 'local-doctor', log: silent });
    const endpoint = new LocalEndpoint({
      tls: { key: local.server.keyPem, cert: local.server.certPem, ca: local.ca.certPem },
      agentCommonName: 'local-doctor',
      ctlCommonName: CTL_COMMON_NAME,
      log: silent,
    });
    const layout = localLayout(ctx.config.dataDir);
    expect((await checkCloud(ctx)).result).toMatchObject({ status: 'skip' });
    await endpoint.start();
    const file = {
      url: endpoint.url,
      // This test's own process stands for the agent: it is running.
      pid: process.pid,
      agent_id: 'local-doctor',
      ca_file: layout.caFile,
      cert_file: join(layout.ctlMtlsDir, 'client.crt'),
      key_file: join(layout.ctlMtlsDir, 'client.key'),
      docker_host: 'unix:///var/run/docker.sock',
      started_at: new Date().toISOString(),
    };
    await writeEndpointFile(layout.endpointFile, file);
    try {
      expect((await checkCloud(ctx)).result).toMatchObject({
        status: 'warn',
        detail: `local mode: the endpoint at ${endpoint.url} answers but the agent is not connected to it`,
      });
    } finally {
      await endpoint.stop();
    }
    expect((await checkCloud(ctx)).result).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(new RegExp(`names ${endpoint.url}, which does not answer`)),
    });
  });

  it("fails the clock when the cloud's Date is an hour off", async () => {
    const server = https.createServer(
      { key: pki.server.keyPem, cert: pki.server.certPem, ca: pki.caPem, requestCert: true, rejectUnauthorized: true },
      (_req, res) => {
        res.setHeader('Date', new Date(Date.now() - 3_600_000).toUTCString());
        res.end('ok');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const ctx = await context(['--cloud-url', url, '--mtls-dir', pki.mtlsDir, '--ca-file', pki.caFile]);
      expect(await checkClock(ctx, true)).toMatchObject({
        status: 'fail',
        detail: expect.stringMatching(/^this host's clock is 360\d s ahead of the cloud's/),
        fix: expect.stringMatching(/^synchronise the clock/),
      });
    } finally {
      server.close();
    }
  });
});

describe('doctor: disk space and the data folder', () => {
  it('passes with room to spare and fails on a nearly full file system', async () => {
    const ctx = await context([]);
    expect(statuses(await checkDisk(ctx, null))).toEqual(['ok']);
    const small = join(work, 'small');
    await mkdir(small, { recursive: true });
    const mounted = await sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]).then(
      () => true,
      () => false,
    );
    if (!mounted) return; // Not root: the full file system cannot be made here.
    try {
      const full = await checkDisk(await context(['--data-dir', join(small, 'data')]), null);
      expect(full).toEqual([
        expect.objectContaining({
          status: 'fail',
          detail: expect.stringMatching(/^data folder: \d+ MiB free of 1 MiB at /),
        }),
      ]);
    } finally {
      await sh('umount', [small]);
    }
  });

  it('passes for a writable folder and fails for a file in its place', async () => {
    const ctx = await context([]);
    await mkdir(ctx.config.dataDir, { recursive: true });
    expect(await checkDataDir(ctx)).toMatchObject({ status: 'ok' });
    const file = join(work, 'a-file');
    await writeFile(file, 'x');
    expect(await checkDataDir(await context(['--data-dir', file]))).toMatchObject({
      status: 'fail',
      detail: `${file} is not a folder`,
    });
    expect(await checkDataDir(await context(['--data-dir', join(file, 'below')]))).toMatchObject({ status: 'fail' });
  });
});

const docker = await dockerOrSkip();

describe.skipIf(!docker)('doctor: runtime ulimits on the real engine', () => {
  let image: string;
  beforeAll(async () => {
    image = await ensureStandinImage();
  }, 300_000);

  it('passes for ulimits the engine grants and fails for rtprio 99, which this engine refuses', async () => {
    const engine = (await checkDocker(await context([]))).facts;
    expect(engine).not.toBeNull();
    const granted = await checkRlimits(
      await context(['--runtime-image', image, '--runtime-ulimits', 'nofile=1024']),
      engine,
    );
    expect(granted).toEqual({
      check: 'rlimits',
      status: 'ok',
      detail: 'the engine grants the runtime ulimits nofile=1024',
    });
    const refused = await checkRlimits(
      await context(['--runtime-image', image, '--runtime-ulimits', 'rtprio=99']),
      engine,
    );
    expect(refused).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^the engine refuses the runtime ulimits rtprio=99: .*rlimit type 14/),
      fix: expect.stringMatching(/^start with --runtime-ulimits none/),
    });
    const { stdout } = await sh('/usr/bin/docker', [
      'ps',
      '-a',
      '--filter',
      'label=edge.autonomy.role=doctor-probe',
      '-q',
    ]);
    expect(stdout.trim()).toBe('');
  }, 60_000);
});

describe('doctor as a command', () => {
  it('prints one line per check and exits 1 when one failed', async () => {
    await ensureBuilt();
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) =>
      execFile(
        process.execPath,
        [BUILT_ENTRY, 'doctor', '--data-dir', join(work, 'data'), '--parent', 'lmdocmissing0'],
        { env: { PATH: process.env.PATH ?? '', HOME: work }, timeout: 60_000 },
        (error, stdout) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout }),
      ),
    );
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^orchestrator-agent doctor, data folder .*; local mode: no client certificate at /);
    expect(lines).toContainEqual(
      expect.stringMatching(/^FAIL {2}macvlan {7}parent interface lmdocmissing0 does not exist on this host → /),
    );
    expect(lines.at(-1)).toMatch(/^\d+ checks? failed/);
  }, 90_000);
});
