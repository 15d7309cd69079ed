import pino from 'pino';
import { RemoteDebug } from '../../src/actors/debug/index.js';
import type { VplcStatus } from '../../src/actors/vplc/supervisor.js';
import { RuntimeHttpProxy } from '../../src/io/runtime-http/proxy.js';
import { launchBrowserPeer } from '../../test/support/browserPeer.js';
import { defineBenchmark, round } from './harness.js';

/**
 * The WebRTC `data` channel between chromium (the web UI's side) and the agent's session code over loopback:
 * round trip of a ping (answered by the agent's channel handler) and throughput of a large command_response, which
 * the agent chunks (14,000-character frames) and the page joins. Timed inside the page (performance.now), so
 * playwright's own round trips are not counted. The reply body comes from the benchmark, not from a runtime: what
 * is measured is the channel, not the proxy.
 */
const PINGS = 500;
const TRANSFERS = 20;
const REPLY_CHARS = 1 << 20;

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return {
    median: round(at(0.5), 3),
    p99: round(at(0.99), 3),
    min: round(sorted[0]!, 3),
    max: round(sorted.at(-1)!, 3),
  };
}

export default defineBenchmark({
  name: 'webrtc-datachannel',
  description: `chromium <-> agent data channel on loopback: ${PINGS} ping round trips, ${TRANSFERS} chunked replies of ${REPLY_CHARS} characters`,
  async run() {
    const log = pino({ level: 'silent' });
    const body = 'z'.repeat(REPLY_CHARS);
    const status = { name: 'bench', phase: 'running', state: 'running' } as VplcStatus;
    const debug = new RemoteDebug({
      proxy: new RuntimeHttpProxy({ log }),
      status: (name) => (name === 'bench' ? status : undefined),
      internalIp: () => null,
      allowedPorts: [8443],
      limits: { perVplc: 4, total: 16 },
      iceServers: [],
      hostAddresses: ['127.0.0.1'],
      maxTransferChars: 36 << 20,
      runCommand: async (payload) => ({
        status: 'success',
        correlation_id: payload.correlation_id,
        http_response: { status_code: 200, body },
      }),
      log,
    });
    const browser = await launchBrowserPeer();
    try {
      const setupStarted = performance.now();
      const offer = await browser.offer('bench');
      const reply = await debug.webrtc.offer(
        { correlation_id: 1, session_id: 'bench', device_id: 'bench', sdp: offer, sdp_type: 'offer' },
        () => {},
      );
      if (reply.status !== 'success') throw new Error(`offer refused: ${reply.error}`);
      await browser.answer('bench', reply.sdp);
      await browser.waitForMessage('bench', 'data', { type: 'ready' });
      const setupMs = performance.now() - setupStarted;

      // tsx keeps function names with a __name helper that the page does not have.
      await browser.page.evaluate('globalThis.__name = (f) => f');
      const results = await browser.page.evaluate(
        async ([pings, transfers]) => {
          const channel = window.peers.bench!.channels.data!;
          let waiting: ((msg: Record<string, unknown>) => void) | null = null;
          let chunks = 0;
          channel.addEventListener('message', (e) => {
            const msg = JSON.parse(String(e.data)) as Record<string, unknown>;
            if (msg.type === 'chunk_data') chunks++;
            if ((msg.type === 'pong' || msg.type === 'chunk_end') && waiting) waiting(msg);
          });
          const next = () => new Promise<Record<string, unknown>>((resolve) => (waiting = resolve));
          const rtt: number[] = [];
          for (let i = 0; i < pings + 20; i++) {
            const t0 = performance.now();
            const got = next();
            channel.send('{"type":"ping"}');
            await got;
            if (i >= 20) rtt.push(performance.now() - t0);
          }
          const transfer: number[] = [];
          for (let i = 0; i < transfers; i++) {
            chunks = 0;
            const t0 = performance.now();
            const got = next();
            channel.send(
              JSON.stringify({ type: 'run_command', correlation_id: i, device_id: 'bench', method: 'GET', api: '/x' }),
            );
            await got;
            transfer.push(performance.now() - t0);
          }
          return { rtt, transfer, chunksPerReply: chunks };
        },
        [PINGS, TRANSFERS] as const,
      );
      const ms = stats(results.transfer);
      const mbPerS = (t: number) => round(REPLY_CHARS / 1e6 / (t / 1000), 1);
      return {
        sessionSetupMs: round(setupMs, 1),
        pingRoundTripMs: stats(results.rtt),
        replyOf1MiB: {
          ms,
          // Throughput at the median and at the 99th-percentile (slowest) transfer time.
          megabytesPerSecond: { median: mbPerS(ms.median), p99: mbPerS(ms.p99) },
          framesPerReply: results.chunksPerReply + 2,
        },
      };
    } finally {
      await debug.stop();
      await browser.close();
    }
  },
});
