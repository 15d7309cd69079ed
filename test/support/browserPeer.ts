/// <reference lib="dom" />
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/**
 * The cloud web UI's side of a WebRTC debug session, played by a real browser: Debian's chromium driven by
 * playwright-core (which downloads no browser). The page is the offerer and creates the `data` and `debug` channels,
 * as the web UI does; it reassembles chunked messages and chunks what it sends above 15,000 characters, the way the
 * old agent's counterpart did. Nothing leaves 127.0.0.1: the page loads no URL, and a request would fail the test.
 */
export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Plain host candidates (no mDNS names), so the agent can reach the page's candidates without a resolver.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
];

export interface BrowserPeer {
  page: Page;
  /** Requests the page made (there must be none). */
  requests: string[];
  /** A new peer connection with both channels; resolves with the offer SDP once ICE gathering is complete. */
  offer(id: string): Promise<string>;
  answer(id: string, sdp: string): Promise<void>;
  /** Messages received on a channel so far (chunked ones joined and parsed). */
  messages(id: string, label: 'data' | 'debug'): Promise<Array<Record<string, unknown>>>;
  waitForMessage(
    id: string,
    label: 'data' | 'debug',
    match: Record<string, unknown>,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  send(id: string, label: 'data' | 'debug', message: unknown): Promise<void>;
  state(id: string): Promise<{ connection: string; data: string; debug: string }>;
  /** Waits until the connection and channel states are those given (any of them, e.g. { data: 'closed' }). */
  waitForState(
    id: string,
    want: Partial<{ connection: string; data: string; debug: string }>,
    timeoutMs?: number,
  ): Promise<void>;
  close(): Promise<void>;
}

declare global {
  interface Window {
    peers: Record<
      string,
      {
        pc: RTCPeerConnection;
        channels: Record<string, RTCDataChannel>;
        inbox: Record<string, Array<Record<string, unknown>>>;
        transfers: Record<string, { total: number; parts: string[] }>;
      }
    >;
  }
}

export async function launchBrowserPeer(): Promise<BrowserPeer> {
  const profile = await mkdtemp(join(tmpdir(), 'i13-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.evaluate(() => {
    window.peers = {};
  });

  return {
    page,
    requests,
    offer: (id) =>
      page.evaluate(async (id) => {
        const pc = new RTCPeerConnection({ iceServers: [] });
        const peer = {
          pc,
          channels: {} as Record<string, RTCDataChannel>,
          inbox: { data: [], debug: [] },
          transfers: {},
        } as Window['peers'][string];
        window.peers[id] = peer;
        for (const label of ['data', 'debug']) {
          const channel = pc.createDataChannel(label);
          peer.channels[label] = channel;
          channel.onmessage = (e) => {
            const msg = JSON.parse(String(e.data)) as Record<string, unknown>;
            const t = peer.transfers;
            if (msg.type === 'chunk_start')
              t[msg.transfer_id as string] = { total: msg.total_chunks as number, parts: [] };
            else if (msg.type === 'chunk_data')
              t[msg.transfer_id as string]!.parts[msg.sequence as number] = msg.data as string;
            else if (msg.type === 'chunk_end') {
              const done = t[msg.transfer_id as string]!;
              delete t[msg.transfer_id as string];
              peer.inbox[label]!.push({ ...(JSON.parse(done.parts.join('')) as object), _chunks: done.total });
            } else peer.inbox[label]!.push(msg);
          };
        }
        await pc.setLocalDescription(await pc.createOffer());
        await new Promise<void>((resolve) => {
          if (pc.iceGatheringState === 'complete') return resolve();
          pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
        });
        return pc.localDescription!.sdp;
      }, id),
    answer: (id, sdp) =>
      page.evaluate(
        async ([id, sdp]) => window.peers[id!]!.pc.setRemoteDescription({ type: 'answer', sdp: sdp! }),
        [id, sdp],
      ),
    messages: (id, label) => page.evaluate(([id, label]) => window.peers[id!]!.inbox[label!]!, [id, label]),
    async waitForMessage(id, label, match, timeoutMs = 20_000) {
      const handle = await page.waitForFunction(
        ([id, label, match]) =>
          window.peers[id as string]!.inbox[label as string]!.find((m) =>
            Object.entries(match as Record<string, unknown>).every(
              ([k, v]) => JSON.stringify(m[k]) === JSON.stringify(v),
            ),
          ),
        [id, label, match] as const,
        { timeout: timeoutMs },
      );
      return (await handle.jsonValue()) as Record<string, unknown>;
    },
    send: (id, label, message) =>
      page.evaluate(
        ([id, label, text]) => {
          const channel = window.peers[id as string]!.channels[label as string]!;
          const s = text as string;
          if (s.length < 15_000) return channel.send(s);
          const transfer = `page-${Date.now()}`;
          const total = Math.ceil(s.length / 14_000);
          channel.send(
            JSON.stringify({ type: 'chunk_start', transfer_id: transfer, total_chunks: total, total_size: s.length }),
          );
          for (let i = 0; i < total; i++) {
            channel.send(
              JSON.stringify({
                type: 'chunk_data',
                transfer_id: transfer,
                sequence: i,
                data: s.slice(i * 14_000, (i + 1) * 14_000),
              }),
            );
          }
          channel.send(JSON.stringify({ type: 'chunk_end', transfer_id: transfer }));
        },
        [id, label, JSON.stringify(message)] as const,
      ),
    state: (id) =>
      page.evaluate((id) => {
        const p = window.peers[id]!;
        return {
          connection: p.pc.connectionState,
          data: p.channels.data!.readyState,
          debug: p.channels.debug!.readyState,
        };
      }, id),
    async waitForState(id, want, timeoutMs = 20_000) {
      const states = () =>
        page.evaluate((id) => {
          const p = window.peers[id]!;
          return `${p.pc.connectionState}/${p.channels.data!.readyState}/${p.channels.debug!.readyState}`;
        }, id);
      await page
        .waitForFunction(
          ([id, want]) => {
            const p = window.peers[id as string]!;
            const s: Record<string, string> = {
              connection: p.pc.connectionState,
              data: p.channels.data!.readyState,
              debug: p.channels.debug!.readyState,
            };
            return Object.entries(want as Record<string, string>).every(([k, v]) => s[k] === v);
          },
          [id, want] as const,
          { timeout: timeoutMs },
        )
        .catch(async (err: Error) => {
          throw new Error(
            `${err.message}; wanted ${JSON.stringify(want)}, have connection/data/debug ${await states()}`,
          );
        });
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
