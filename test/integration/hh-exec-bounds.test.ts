import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SerialDevice } from '../../sidecar/src/protocol.js';
import { SerialPassthrough } from '../../src/actors/serial/passthrough.js';
import type { VplcStatus } from '../../src/actors/vplc/supervisor.js';
import { DockerEngine, ExecOverflow } from '../../src/io/docker/engine.js';
import { Timeout } from '../../src/io/docker/errors.js';
import { removeTestObjects, testEngines } from '../support/engines.js';
import { ensureStandinImage } from '../support/runtimeImage.js';
import { waitFor } from '../support/wait.js';

/**
 * Commands the agent runs inside a runtime (serial device nodes) on the real engines. The runtime owns its file
 * system, so its `rm` or `mkdir` may flood or hang: the agent reads a bounded amount, kills what overruns (closing
 * Docker's stream does not stop it), and one runtime's commands never hold up another's.
 */
const engines = await testEngines();
const log = pino({ level: 'silent' });

const adapter = (n: number): SerialDevice => ({
  path: `/dev/ttyUSB${n}`,
  by_id: `/dev/serial/by-id/usb-FTDI_HH${n}-if00-port0`,
  major: 188,
  minor: n,
  vendor_id: '0403',
  product_id: '6001',
  serial: `HH${n}`,
  subsystem: 'tty',
  manufacturer: 'FTDI',
  product: 'FT232R',
});

describe.each(engines)('on Docker $label (API $apiVersion)', (target) => {
  const docker = new Docker({ socketPath: target.socketPath });
  const tag = `hh${target.label.replace('.', '')}-exec`;
  let engine: DockerEngine;
  let image: string;

  const start = async (name: string) => {
    const c = await docker.createContainer({
      name,
      Image: image,
      Cmd: ['sleep', '600'],
      HostConfig: { NetworkMode: 'none', CapAdd: ['MKNOD'], DeviceCgroupRules: ['c 188:* rmw'] },
    });
    await c.start();
  };
  /** The processes running in a container, as its own `ps` lists them. */
  const processes = async (name: string) => (await engine.exec(name, ['ps', '-o', 'args'])).output;

  beforeAll(async () => {
    await removeTestObjects(target.socketPath, tag, []);
    image = await ensureStandinImage(target.socketPath);
    engine = new DockerEngine({ address: { socketPath: target.socketPath }, log, selfContainer: null });
    await start(`${tag}-a`);
    await start(`${tag}-b`);
  }, 300_000);

  afterAll(async () => {
    await removeTestObjects(target.socketPath, tag, []);
  }, 60_000);

  it('returns the output and exit code of a command, as before', async () => {
    const result = await engine.exec(`${tag}-a`, ['sh', '-c', 'echo made; echo oops >&2; exit 3']);
    expect(result.exitCode).toBe(3);
    // stdout and stderr come as they come; the wrapper's PID line is not part of the output.
    expect(result.output.split('\n').sort()).toEqual(['made', 'oops']);
  });

  it('stops a command that floods its output once the bound is passed, and kills it', async () => {
    const started = Date.now();
    const err = await engine.exec(`${tag}-a`, ['yes'], 10_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecOverflow);
    expect((err as Error).message).toBe(`yes in container ${tag}-a wrote more than 64 KiB of output and was stopped.`);
    expect(Date.now() - started).toBeLessThan(5_000);
    await waitFor(async () => !(await processes(`${tag}-a`)).split('\n').includes('yes'), {
      timeoutMs: 5_000,
      message: 'yes to be gone from the container',
    });
  }, 30_000);

  it('gives up on a command that outlives its timeout, and kills it', async () => {
    const started = Date.now();
    const err = await engine.exec(`${tag}-a`, ['sleep', '300'], 1_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Timeout);
    expect(Date.now() - started).toBeLessThan(3_000);
    await waitFor(async () => !(await processes(`${tag}-a`)).includes('sleep 300'), {
      timeoutMs: 5_000,
      message: 'sleep 300 to be gone from the container',
    });
  }, 30_000);

  it("makes one runtime's device nodes while another runtime's commands hang or flood", async () => {
    // Runtime a's own tools are broken: its mkdir hangs and its rm floods, run directly or through its shell (the
    // stand-in's busybox shell would run its built-in mkdir and rm whatever is in /bin, so the shell is broken too).
    const brokenShell = [
      '#!/bin/busybox ash',
      'case "$4" in',
      '  mkdir) echo $$; exec /bin/busybox sleep 300;;',
      '  rm) echo $$; exec /bin/busybox yes;;',
      'esac',
      'exec /bin/busybox ash "$@"',
    ].join('\n');
    await engine.exec(`${tag}-a`, [
      '/bin/busybox',
      'ash',
      '-c',
      [
        `printf '%s\\n' "$1" > /tmp/sh`,
        `printf '#!/bin/busybox ash\\nexec /bin/busybox sleep 300\\n' > /tmp/mkdir`,
        `printf '#!/bin/busybox ash\\nexec /bin/busybox yes\\n' > /tmp/rm`,
        'chmod +x /tmp/sh /tmp/mkdir /tmp/rm',
        'rm -f /bin/sh /bin/mkdir /bin/rm',
        'cp /tmp/sh /tmp/mkdir /tmp/rm /bin/',
      ].join(' && '),
      'ash',
      brokenShell,
    ]);
    const devices = [adapter(1), adapter(2), adapter(3)];
    const serial = new SerialPassthrough({ engine, devices: () => devices, log });
    const status = (name: string, ports: Array<{ n: number; path: string }>): VplcStatus =>
      ({
        name,
        phase: 'running',
        containerId: name,
        startedAt: '2026-01-20T10:00:00Z',
        spec: {
          name,
          vnics: [],
          serials: ports.map((p) => ({
            name: `p${p.n}`,
            device_id: `usb-FTDI_HH${p.n}-if00-port0`,
            container_path: p.path,
          })),
        },
      }) as unknown as VplcStatus;
    // a: one port in a sub-folder (mkdir hangs), one straight under /dev (rm floods); b: an ordinary runtime.
    serial.observe(
      status(`${tag}-a`, [
        { n: 1, path: '/dev/hh/modbus0' },
        { n: 2, path: '/dev/modbus1' },
      ]),
    );
    serial.observe(status(`${tag}-b`, [{ n: 3, path: '/dev/modbus0' }]));
    const started = Date.now();
    await waitFor(() => serial.state(`${tag}-b`, 'p3')?.status === 'connected', {
      timeoutMs: 5_000,
      message: "b's node while a's commands hang",
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(serial.state(`${tag}-a`, 'p1')).toBeUndefined();
    // a's ports end in error, each with the reason, once its commands were stopped.
    await waitFor(() => serial.state(`${tag}-a`, 'p2')?.status === 'error', { timeoutMs: 30_000 });
    expect(serial.state(`${tag}-a`, 'p1')?.error).toMatch(/did not answer within 10 s while trying to run mkdir/);
    expect(serial.state(`${tag}-a`, 'p2')?.error).toMatch(/rm in container .* wrote more than 64 KiB of output/);
    await waitFor(async () => !/sleep 300|yes/.test(await processes(`${tag}-a`)), { timeoutMs: 5_000 });
  }, 60_000);
});
