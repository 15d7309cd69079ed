/**
 * What the agent does on the two data channels the browser opens (docs/protocol.md#data-channels):
 *
 * - `data`: JSON messages, chunked both ways above 15,000 characters: `ping`/`pong`, `ready` on open, `close`, and
 *   `run_command` answered with `command_response` (the same proxy, checks and limits as the cloud topic);
 * - `debug`: JSON messages, not chunked: `debug_ready` on open, and the `debug_*` messages bridged to the runtime's
 *   debug namespace.
 *
 * Both are bound to the session's vPLC (the old agent let a channel reach any runtime). Every received message
 * counts as activity; what is sent waits for the channel's queue to drain, and the queue is bounded.
 */
import type { Logger } from 'pino';
import type { RuntimeDebugClient } from '../../io/runtime-debug/client.js';
import { framesOf, Reassembler } from '../../io/webrtc/chunking.js';
import type { Channel } from '../../io/webrtc/peer.js';
import { echo, truncate } from '../../model/echo.js';
import { errorText } from '../../model/errors.js';
import { debugError, isCommandType, runDebugCommand, startParameters } from './commands.js';
import type { RuntimeLinks } from './runtimeLinks.js';

/** The data channel pings every 30 s (the old agent's intent; its ping loop never ran). */
export const PING_INTERVAL_MS = 30_000;
/** Longest single frame the agent reads (chunk frames are about 14 KB). */
export const MAX_FRAME_CHARS = 1 << 20;
/** The sender waits while more than this many bytes are queued in the channel. */
const DRAIN_THRESHOLD = 1 << 20;
/** Frames waiting to be handed to the channel, in characters; beyond it a reply is dropped with an error. */
export const MAX_QUEUED_CHARS = 64 << 20;
/** How long closing a channel may wait for its last frames and the browser's acknowledgement. */
const CLOSE_TIMEOUT_MS = 2_000;
/** run_command requests a channel carries at once (the proxy's own limits apply as well). */
const MAX_COMMANDS_IN_FLIGHT = 4;

export interface ChannelContext {
  sessionId: string;
  vplc: string;
  log: Logger;
  /** A message arrived or a channel opened. */
  activity: () => void;
}

/** Sends frames in order, each once the channel can take it, within a bound on what waits. */
class Sender {
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(
    private readonly channel: Channel,
    private readonly log: Logger,
  ) {}

  send(frames: string[]): boolean {
    const size = frames.reduce((n, f) => n + f.length, 0);
    if (this.queued + size > MAX_QUEUED_CHARS) return false;
    this.queued += size;
    this.chain = this.chain.then(async () => {
      try {
        for (const frame of frames) {
          if (!this.channel.isOpen) return;
          await this.channel.drained(DRAIN_THRESHOLD);
          if (!this.channel.isOpen) return;
          this.channel.send(frame);
        }
      } catch (err) {
        this.log.debug({ channel: this.channel.label, err: errorText(err) }, 'send on a data channel failed');
      } finally {
        this.queued -= size;
      }
    });
    return true;
  }

  /** Resolves once everything handed over so far was sent (or dropped with a closed channel). */
  flushed(): Promise<void> {
    return this.chain;
  }
}

function parseFrame(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (text.length > MAX_FRAME_CHARS)
    return {
      ok: false,
      error: `a frame of ${text.length} characters is longer than the ${MAX_FRAME_CHARS} the agent reads; chunk it`,
    };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: errorText(err) };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface ChannelHandler {
  readonly label: string;
  /** Says goodbye with the reason (when the channel is open), then closes it. */
  close(reason?: { reason: string; message: string }): Promise<void>;
}

export type RunCommandOnChannel = (payload: Record<string, unknown>) => Promise<Record<string, unknown>>;

export function dataChannel(
  channel: Channel,
  ctx: ChannelContext,
  deps: { runCommand: RunCommandOnChannel; maxTransferChars: number },
): ChannelHandler {
  const log = ctx.log.child({ channel: 'data' });
  const sender = new Sender(channel, log);
  const reassembler = new Reassembler({ maxChars: deps.maxTransferChars });
  let inFlight = 0;
  let ping: ReturnType<typeof setInterval> | null = null;

  const send = (message: Record<string, unknown>) => {
    if (!sender.send(framesOf(message))) {
      log.warn({ type: message.type }, 'data channel send queue full; message dropped');
      sender.send(
        framesOf({
          type: 'error',
          error: `The agent dropped a ${String(message.type)} reply: the channel is not reading fast enough`,
        }),
      );
    }
  };

  channel.onOpen(() => {
    ctx.activity();
    send({ type: 'ready' });
    ping = setInterval(() => {
      reassembler.purge();
      send({ type: 'ping' });
    }, PING_INTERVAL_MS);
    ping.unref?.();
  });
  channel.onClose(() => {
    if (ping) clearInterval(ping);
    reassembler.clear();
  });
  channel.onMessage((text) => {
    ctx.activity();
    const frame = parseFrame(text);
    if (!frame.ok || !isObject(frame.value)) {
      // The old agent logged and dropped these; a short note tells the other side too.
      log.debug({ error: frame.ok ? 'not an object' : frame.error }, 'unreadable data channel message dropped');
      return;
    }
    const outcome = reassembler.accept(frame.value);
    if (outcome.kind === 'message') return handle(outcome.value);
    if (outcome.kind === 'assembled') {
      if (isObject(outcome.value)) return handle(outcome.value);
      log.debug('reassembled data channel message is not an object; dropped');
      return;
    }
    if (outcome.kind === 'refused') {
      log.info({ transfer: outcome.transferId, error: outcome.error }, 'chunked transfer refused');
      send({ type: 'chunk_error', transfer_id: outcome.transferId, error: outcome.error });
      return;
    }
    if (outcome.kind === 'ignored') log.debug({ why: outcome.why }, 'chunk frame ignored');
  });

  const handle = (msg: Record<string, unknown>) => {
    switch (msg.type) {
      case 'ping':
        return send({ type: 'pong' });
      case 'pong':
        return;
      case 'close':
        log.info('the browser asked to close the data channel');
        channel.close();
        return;
      case 'run_command':
        return void runCommand(msg);
      default:
        log.debug({ type: truncate(String(msg.type), 64) }, 'data channel message of another type ignored');
    }
  };

  const runCommand = async (msg: Record<string, unknown>) => {
    const correlationId = msg.correlation_id ?? null;
    const reply = (fields: Record<string, unknown>) =>
      send({ type: 'command_response', correlation_id: correlationId, ...fields });
    if (msg.device_id !== ctx.vplc) {
      return reply({
        status: 'error',
        error: `This WebRTC session debugs ${truncate(ctx.vplc)}; run_command for ${echo(msg.device_id ?? null, 64)} must go through its own session`,
      });
    }
    if (inFlight >= MAX_COMMANDS_IN_FLIGHT) {
      return reply({
        status: 'error',
        error: `${MAX_COMMANDS_IN_FLIGHT} run_command requests are already in flight on this channel; send more once they are answered`,
      });
    }
    inFlight++;
    try {
      // The cloud topic's path: the same contract, checks, limits and timeouts. Its envelope is not repeated here.
      const { action: _action, correlation_id: _id, ...result } = await deps.runCommand(msg);
      reply(result);
    } catch (err) {
      reply({ status: 'error', error: `run_command failed: ${errorText(err)}` });
    } finally {
      inFlight--;
    }
  };

  return {
    label: 'data',
    close: async (reason) => {
      if (reason && channel.isOpen) send({ type: 'session_closed', ...reason });
      await sender.flushed();
      if (ping) clearInterval(ping);
      await channel.closeGracefully(CLOSE_TIMEOUT_MS);
    },
  };
}

export function debugChannel(
  channel: Channel,
  ctx: ChannelContext,
  deps: { links: RuntimeLinks; allowedPorts: readonly number[] },
): ChannelHandler {
  const log = ctx.log.child({ channel: 'debug' });
  const sender = new Sender(channel, log);
  let runtime: RuntimeDebugClient | null = null;
  let closed = false;
  // Messages are handled one at a time, in order: a command never overtakes the debug_start before it.
  let chain: Promise<void> = Promise.resolve();
  let waiting = 0;

  const send = (message: Record<string, unknown>) => {
    // Debug replies are small and never chunked (the old agent's rule); the queue bound still holds.
    if (!sender.send([JSON.stringify(message)])) log.warn('debug channel send queue full; reply dropped');
  };
  const stopRuntime = () => {
    runtime?.close();
    runtime = null;
  };

  channel.onOpen(() => {
    ctx.activity();
    send({ type: 'debug_ready' });
  });
  channel.onClose(() => {
    closed = true;
    stopRuntime();
  });
  channel.onMessage((text) => {
    ctx.activity();
    const frame = parseFrame(text);
    if (!frame.ok) return send(debugError(`Invalid JSON: ${frame.error}`));
    if (!isObject(frame.value)) return send(debugError('Invalid JSON: a debug message must be a JSON object'));
    if (waiting >= 64)
      return send(
        debugError('64 debug messages are already waiting on this channel; send more once they are answered'),
      );
    const msg = frame.value;
    waiting++;
    chain = chain.then(async () => {
      try {
        send(await handle(msg));
      } catch (err) {
        send(debugError(errorText(err)));
      } finally {
        waiting--;
      }
    });
  });

  const handle = async (msg: Record<string, unknown>) => {
    const type = msg.type;
    if (type === 'debug_start') {
      if (msg.device_id !== undefined && msg.device_id !== ctx.vplc) {
        return debugError(
          `This WebRTC session debugs ${truncate(ctx.vplc)}; debug_start for ${echo(msg.device_id, 64)} must go through its own session`,
        );
      }
      const params = startParameters(msg, deps.allowedPorts);
      if ('error' in params) return debugError(params.error);
      stopRuntime();
      const client = await deps.links.connect(ctx.vplc, params.port, params);
      if (closed) {
        client.close();
        return debugError('The debug channel closed while the runtime connection was opening');
      }
      runtime = client;
      client.onClosed((why) => {
        if (runtime === client) runtime = null;
        send(debugError(`The runtime debug connection of ${truncate(ctx.vplc)} ended: ${why}; send debug_start again`));
      });
      log.info({ step: 'debug_channel.connected', port: params.port }, 'debug channel bridged to the runtime');
      return { type: 'debug_connected' as const };
    }
    if (type === 'debug_stop') {
      stopRuntime();
      return { type: 'debug_disconnected' as const };
    }
    if (isCommandType(type)) {
      const client = runtime;
      if (!client?.isOpen) return debugError('No active debug session. Send debug_start first.');
      return runDebugCommand(type, msg, (hex) => client.command(hex));
    }
    return debugError(`Unknown message type: ${typeof type === 'string' ? truncate(type) : echo(type ?? null)}`);
  };

  return {
    label: 'debug',
    close: async (reason) => {
      if (reason && channel.isOpen) send({ type: 'session_closed', ...reason });
      await sender.flushed();
      closed = true;
      stopRuntime();
      await channel.closeGracefully(CLOSE_TIMEOUT_MS);
    },
  };
}
