import { readFile } from 'node:fs/promises';
import { agentVersion, ConfigError, parseConfig } from '../../config.js';
import { type CtlConnection, CtlConnectError, connectCtl } from '../../io/local/ctlClient.js';
import { LOCAL_INFO_EVENT } from '../../io/local/endpoint.js';
import { type EndpointFile, EndpointFileProblem, readEndpointFile } from '../../io/local/endpointFile.js';
import { processAlive } from '../../io/host/probes.js';
import { localLayout } from '../../io/pki/localPki.js';
import { errorText } from '../../model/errors.js';
import { UsageError } from '../toolArgs.js';
import { type CtlArgs, ctlUsage, parseCtlArgs } from './args.js';
import { follow, type Progress } from './follow.js';
import { isFailure, render } from './render.js';

/**
 * `orchestrator-agent ctl`: one topic through the local endpoint, its reply printed, a long operation followed to
 * its end. Every failure is one line on stderr saying what to do; the exit code tells scripts how it went.
 */

export interface CtlIo {
  out: (text: string) => void;
  err: (text: string) => void;
  readStdin: () => Promise<string>;
  /** Aborted on Ctrl-C while a long operation is followed. */
  interrupted: AbortSignal;
}

function processIo(): CtlIo {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    controller.abort();
    // A request that is not being followed cannot be abandoned half way: leave shortly, whatever it was doing.
    setTimeout(() => process.exit(130), 2_000).unref();
  });
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    interrupted: controller.signal,
  };
}

let lastId = 0;
/** Correlation ids for ctl's own requests: unique within a run, and unlikely to meet another ctl's. */
function nextId(): number {
  lastId = Math.max(lastId + 1, Math.floor(Math.random() * 2_000_000_000));
  return lastId;
}

async function connect(file: EndpointFile, path: string): Promise<CtlConnection> {
  let cert: string;
  let key: string;
  let ca: string;
  try {
    [cert, key, ca] = await Promise.all([
      readFile(file.cert_file, 'utf8'),
      readFile(file.key_file, 'utf8'),
      readFile(file.ca_file, 'utf8'),
    ]);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CtlFailure(
      `cannot read ctl's certificate (${e.code ?? errorText(err)} on ${e.path ?? file.cert_file}): run ctl as the ` +
        "agent's user, or restart the agent to make its local certificates again",
    );
  }
  try {
    return await connectCtl({ url: file.url, cert, key, ca });
  } catch (err) {
    if (!(err instanceof CtlConnectError)) throw err;
    const why = processAlive(file.pid)
      ? `the agent (pid ${file.pid}) is running but its endpoint did not answer: ${err.message}`
      : `the agent that wrote ${path} (pid ${file.pid}) is not running any more; start it again (npm start)`;
    throw new CtlFailure(`cannot reach the local agent: ${why}`);
  }
}

class CtlFailure extends Error {}

export async function runCtl(
  argv: string[],
  env: Record<string, string | undefined>,
  command: string,
  io: CtlIo = processIo(),
): Promise<number> {
  const fail = (message: string, code = 1) => {
    io.err(`ctl: ${message}\n`);
    return code;
  };
  let args: CtlArgs;
  try {
    args = parseCtlArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, 2);
    throw err;
  }
  if (args.action.kind === 'help') {
    io.out(`${ctlUsage(command)}\n`);
    return 0;
  }
  let dataDir: string;
  try {
    dataDir = (await parseConfig(args.agentArgs, env, { checkFiles: false })).dataDir;
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message, 2);
    throw err;
  }
  const path = localLayout(dataDir).endpointFile;
  let conn: CtlConnection;
  try {
    conn = await connect(await readEndpointFile(path), path);
  } catch (err) {
    if (err instanceof EndpointFileProblem || err instanceof CtlFailure) return fail(err.message);
    throw err;
  }
  try {
    return await send(conn, args, io);
  } catch (err) {
    return fail(errorText(err));
  } finally {
    conn.close();
  }
}

/** The agent's own events as the endpoint passes them on: one line each, until Ctrl-C or `count` of them. */
function events(conn: CtlConnection, count: number | null, json: boolean, io: CtlIo): Promise<number> {
  return new Promise((resolve) => {
    let seen = 0;
    const finish = (code: number) => {
      off();
      io.interrupted.removeEventListener('abort', interrupted);
      resolve(code);
    };
    const interrupted = () => finish(0);
    const off = conn.onEvent((event, payload) => {
      if (json) io.out(`${JSON.stringify({ event, payload })}\n`);
      else io.out(`${new Date().toISOString()}  ${event}  ${JSON.stringify(payload)}\n`);
      seen += 1;
      if (count !== null && seen >= count) finish(0);
    });
    io.interrupted.addEventListener('abort', interrupted);
  });
}

async function send(conn: CtlConnection, args: CtlArgs, io: CtlIo): Promise<number> {
  const { action } = args;
  const line = (value: unknown) => io.out(`${JSON.stringify(value)}\n`);
  if (action.kind === 'version') {
    const info = (await conn.request(LOCAL_INFO_EVENT, {}, args.timeoutMs)) as Record<string, unknown>;
    if (args.json) {
      line({ ctl_version: agentVersion(), ...info });
    } else {
      io.out(
        [
          `ctl      ${agentVersion()}`,
          `agent    ${String(info.agent_version ?? 'unknown')} (${String(info.agent_id)}), ` +
            (info.agent_connected ? `connected since ${String(info.agent_connected_at)}` : 'not connected'),
          `endpoint ${String(info.url)}`,
          `docker   ${String(info.docker_host ?? 'unknown')}`,
        ].join('\n') + '\n',
      );
    }
    return info.agent_connected ? 0 : 1;
  }
  if (action.kind === 'events') return events(conn, action.count, args.json, io);
  if (action.kind !== 'send') return 2;

  let payload = action.payload;
  if (args.payloadFromStdin) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await io.readStdin());
    } catch (err) {
      throw new Error(`the payload on standard input is not JSON (${errorText(err)})`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error('the payload on standard input must be a JSON object');
    }
    payload = { ...payload, ...(parsed as Record<string, unknown>) };
  }
  const correlationId = payload.correlation_id ?? nextId();
  payload = { correlation_id: correlationId, ...payload };
  const startedAt = Date.now();
  const reply = await conn.request(action.topic, payload, args.timeoutMs);
  const failed = isFailure(reply);

  const accepted = (reply as { status?: unknown } | null)?.status;
  const follows =
    action.follow !== null &&
    ((action.follow === 'create' && accepted === 'creating') ||
      (action.follow === 'command' && accepted === 'accepted') ||
      (action.follow === 'delete' && accepted === 'deleting'));

  if (args.json) line(follows ? { type: 'reply', topic: action.topic, reply } : reply);
  else io.out(`${render(action.view, action.topic, reply, payload)}\n`);
  if (!follows || action.follow === null) return failed ? 1 : 0;

  const deviceId = String(payload.device_id ?? payload.container_name ?? '');
  const onProgress = (p: Progress) => {
    if (args.json) {
      line({ type: 'progress', at: Math.round(p.at * 10) / 10, state: p.state, step: p.step, status: p.status });
    } else {
      io.out(`  ${`+${p.at.toFixed(1)} s`.padStart(9)}  ${p.state}${p.step ? ` (${p.step})` : ''}\n`);
    }
  };
  const outcome = await follow(conn, {
    kind: action.follow,
    topic: action.topic,
    deviceId,
    correlationId,
    waitMs: args.waitMs,
    onProgress,
    signal: io.interrupted,
    nextId,
    startedAt,
  });
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  if (args.json) {
    line({ type: 'result', outcome: outcome.kind, message: outcome.message, seconds: Number(seconds) });
  } else if (outcome.kind === 'done') {
    io.out(`${outcome.message} (${seconds} s)\n`);
  } else {
    io.err(`ctl: ${outcome.message}\n`);
  }
  if (outcome.kind === 'done') return 0;
  return outcome.kind === 'interrupted' ? 130 : 1;
}
