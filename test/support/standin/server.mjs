// Stand-in for the OpenPLC runtime's REST API, baked into orchestrator-test/openplc-standin (see
// scripts/build-runtime-standin.sh). It needs Node's built-ins, and socket.io for the debug namespace (debug.mjs),
// which the build copies into the image with its dependencies.
// HTTPS on 8443 (self-signed certificate made at image build time, like the real runtime) and plain HTTP on 8080,
// both serving the same routes. One log line per request on stdout; SIGTERM closes everything at once.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { networkInterfaces } from 'node:os';
import { attachDebug, login } from './debug.mjs';

const HTTPS_PORT = Number(process.env.HTTPS_PORT ?? 8443);
const HTTP_PORT = Number(process.env.HTTP_PORT ?? 8080);
const CERT_DIR = process.env.CERT_DIR ?? '/app';
const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
const MAX_BIG_BYTES = 256 * 1024 * 1024;
const MAX_SLOW_MS = 10 * 60 * 1000;

let plcStatus = 'RUNNING';
const startedAt = Date.now();

function sendJson(res, status, value, extraHeaders = {}) {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': String(body.length),
    ...extraHeaders,
  });
  res.end(body);
}

function sendBytes(res, status, contentType, body) {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': String(body.length) });
  res.end(body);
}

function queryObject(url) {
  const out = {};
  for (const [key, value] of url.searchParams) {
    if (key in out) {
      out[key] = Array.isArray(out[key]) ? [...out[key], value] : [out[key], value];
    } else {
      out[key] = value;
    }
  }
  return out;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function isUtf8(buf) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

// Minimal multipart/form-data parser: enough for what an HTTP client library sends (RFC 7578).
function parseMultipart(body, contentType) {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!match) throw new Error('multipart body without boundary');
  const delimiter = Buffer.from(`--${match[1] ?? match[2].trim()}`);
  const files = [];
  const fields = {};
  let pos = body.indexOf(delimiter);
  while (pos !== -1) {
    let partStart = pos + delimiter.length;
    if (body.subarray(partStart, partStart + 2).toString() === '--') break;
    if (body.subarray(partStart, partStart + 2).toString() === '\r\n') partStart += 2;
    const next = body.indexOf(delimiter, partStart);
    if (next === -1) break;
    // The part ends with CRLF before the next delimiter.
    const part = body.subarray(partStart, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd !== -1) {
      const headerText = part.subarray(0, headerEnd).toString('utf8');
      const content = part.subarray(headerEnd + 4);
      const disposition = /content-disposition:([^\r\n]*)/i.exec(headerText)?.[1] ?? '';
      const name = /\bname="([^"]*)"/i.exec(disposition)?.[1] ?? '';
      const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
      const partType = /content-type:\s*([^\r\n]*)/i.exec(headerText)?.[1]?.trim();
      if (filename !== undefined) {
        files.push({ field: name, filename, size: content.length, content_type: partType ?? null });
      } else {
        fields[name] = content.toString('utf8');
      }
    }
    pos = next;
  }
  return { files, fields };
}

function lowerHeaders(req) {
  const out = {};
  for (const [key, value] of Object.entries(req.headers)) out[key] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

function internalAddresses() {
  const out = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? [])
      if (!a.internal && a.family === 'IPv4') out.push({ interface: name, address: a.address });
  }
  return out;
}

async function route(req, res, url) {
  const method = req.method ?? 'GET';
  const path = url.pathname;

  // Like the real runtime: answers without a login, so the agent can tell when the runtime is ready.
  if (path === '/api/version' && (method === 'GET' || method === 'HEAD')) {
    return sendJson(res, 200, { version: 'openplc-standin' });
  }
  if (path === '/api/status' && (method === 'GET' || method === 'HEAD')) {
    return sendJson(res, 200, { status: plcStatus });
  }
  if (path === '/api/login' && method === 'POST') {
    return login(await readBody(req), sendJson, res);
  }
  if (path === '/api/start-plc' && method === 'POST') {
    await readBody(req);
    plcStatus = 'RUNNING';
    return sendJson(res, 200, { status: plcStatus, message: 'PLC started' });
  }
  if (path === '/api/stop-plc' && method === 'POST') {
    await readBody(req);
    plcStatus = 'STOPPED';
    return sendJson(res, 200, { status: plcStatus, message: 'PLC stopped' });
  }
  if (path === '/api/upload-file' && method === 'POST') {
    const body = await readBody(req);
    const contentType = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data/i.test(contentType)) {
      return sendJson(res, 400, { error: 'upload-file expects multipart/form-data' });
    }
    const { files, fields } = parseMultipart(body, contentType);
    if (files.length === 0) return sendJson(res, 400, { error: 'no file part in the upload', fields });
    return sendJson(res, 200, { status: 'uploaded', files, fields });
  }
  if (path === '/api/echo') {
    const body = await readBody(req);
    const text = isUtf8(body);
    return sendJson(res, 200, {
      method,
      path,
      query: queryObject(url),
      headers: lowerHeaders(req),
      body: text ? body.toString('utf8') : body.toString('base64'),
      body_encoding: text ? 'utf8' : 'base64',
      body_bytes: body.length,
    });
  }
  if (path === '/api/binary' && method === 'GET') {
    return sendBytes(
      res,
      200,
      'application/octet-stream',
      Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x81, 0xc3, 0x28, 0x0a]),
    );
  }
  if (path === '/api/text' && method === 'GET') {
    // "café" in ISO-8859-1: a correct client decodes by charset, a naive UTF-8 decode mangles the é.
    return sendBytes(res, 200, 'text/plain; charset=iso-8859-1', Buffer.from([0x63, 0x61, 0x66, 0xe9]));
  }
  if (path === '/api/empty') {
    await readBody(req);
    res.writeHead(204);
    return res.end();
  }
  if (path === '/api/big' && method === 'GET') {
    const bytes = Math.max(0, Math.min(MAX_BIG_BYTES, Number(url.searchParams.get('bytes') ?? 0) || 0));
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(bytes) });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => {
      left = 0;
    });
    return pump();
  }
  if (path === '/api/slow' && method === 'GET') {
    const ms = Math.max(0, Math.min(MAX_SLOW_MS, Number(url.searchParams.get('ms') ?? 1000) || 0));
    const timer = setTimeout(() => sendJson(res, 200, { slept_ms: ms }), ms);
    res.on('close', () => clearTimeout(timer));
    return;
  }
  if (path === '/api/redirect') {
    await readBody(req);
    const code = [301, 302, 303, 307, 308].includes(Number(url.searchParams.get('code')))
      ? Number(url.searchParams.get('code'))
      : 302;
    res.writeHead(code, { Location: url.searchParams.get('to') ?? '/api/status', 'Content-Length': '0' });
    return res.end();
  }
  if (path.startsWith('/api/hostile/')) return hostile(req, res, url);
  if (path === '/api/info' && method === 'GET') {
    return sendJson(res, 200, {
      runtime: 'openplc-standin',
      node: process.version,
      uptime_s: Math.round((Date.now() - startedAt) / 1000),
      addresses: internalAddresses(),
    });
  }
  return sendJson(res, 404, { error: `No route for ${method} ${path}` });
}

// A runtime that answers badly on purpose, for the agent's proxy tests: every route here is something a broken or
// hostile runtime could do, and the agent must answer each with a clear error and stay responsive meanwhile.
const HOSTILE_DEFAULT_BYTES = 64 * 1024 * 1024;

function pumpChunks(res, total, chunk) {
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.on('close', () => {
    left = 0;
  });
  pump();
}

async function hostile(req, res, url) {
  await readBody(req).catch(() => undefined);
  const name = url.pathname.slice('/api/hostile/'.length);
  const number = (key, fallback, max) => Math.max(0, Math.min(max, Number(url.searchParams.get(key) ?? fallback) || 0));
  switch (name) {
    // A JSON answer far larger than the agent's limit, chunked: no Content-Length to refuse it by.
    case 'huge': {
      const bytes = number('bytes', HOSTILE_DEFAULT_BYTES, MAX_BIG_BYTES);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('[');
      return pumpChunks(res, bytes, Buffer.from('0,'.repeat(32 * 1024)));
    }
    // Valid JSON nested far deeper than any recursive code survives, small enough to pass the size limit.
    case 'deep': {
      const depth = number('depth', 100_000, 10_000_000);
      return sendBytes(res, 200, 'application/json', Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`));
    }
    // Valid JSON of a million values in about 2 MB.
    case 'wide': {
      const count = number('count', 1_000_000, 5_000_000);
      return sendBytes(res, 200, 'application/json', Buffer.from(`[${'0,'.repeat(count - 1)}0]`));
    }
    // Headers at once, then one byte of body every half second, forever.
    case 'slow': {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('[');
      const timer = setInterval(() => res.write('0,'), number('ms', 500, MAX_SLOW_MS));
      res.on('close', () => clearInterval(timer));
      return;
    }
    // A chunked body that never ends, as fast as the reader takes it.
    case 'endless': {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      return pumpChunks(res, Number.POSITIVE_INFINITY, Buffer.alloc(64 * 1024, 0x61));
    }
    // Redirects to itself with a growing counter: never an answer.
    case 'redirect-loop': {
      const hop = number('hop', 0, 1e9) + 1;
      res.writeHead(302, { Location: `/api/hostile/redirect-loop?hop=${hop}`, 'Content-Length': '0' });
      return res.end();
    }
    // Accepts the request and never answers, not even headers.
    case 'stall': {
      return;
    }
    // A header larger than any HTTP client takes (Node's limit is 16 KiB).
    case 'header-flood': {
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-Flood': 'x'.repeat(64 * 1024) });
      return res.end('{}');
    }
    // Not HTTP at all.
    case 'garbage': {
      res.socket?.end('\u0000\u0001 this is not HTTP \r\n\r\n');
      return;
    }
    // Closes the connection without a word.
    case 'reset': {
      res.socket?.destroy();
      return;
    }
    default:
      return sendJson(res, 404, { error: `No hostile route ${name}` });
  }
}

function handler(scheme) {
  return (req, res) => {
    const started = Date.now();
    let bytes = 0;
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    res.write = (chunk, ...rest) => {
      if (chunk) bytes += Buffer.byteLength(chunk);
      return write(chunk, ...rest);
    };
    res.end = (chunk, ...rest) => {
      if (chunk && typeof chunk !== 'function') bytes += Buffer.byteLength(chunk);
      return end(chunk, ...rest);
    };
    res.on('close', () => {
      const peer = req.socket.remoteAddress ?? '-';
      process.stdout.write(
        `${new Date().toISOString()} ${scheme} ${peer} ${req.method} ${req.url} ${res.statusCode} ${bytes}B ${Date.now() - started}ms\n`,
      );
    });
    const url = new URL(req.url ?? '/', 'http://standin');
    route(req, res, url).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(err?.message ?? err) });
      else res.destroy();
    });
  };
}

// The real runtime needs a moment after its container starts before its API answers; so does the stand-in, so that
// tests prove the agent waits for readiness instead of assuming a started container serves.
const START_DELAY_MS = Number(process.env.STANDIN_START_DELAY_MS ?? 500);
const servers = [];
const tls = { cert: readFileSync(`${CERT_DIR}/cert.pem`), key: readFileSync(`${CERT_DIR}/key.pem`) };
setTimeout(() => {
  const secure = https.createServer(tls, handler('https'));
  const plain = http.createServer(handler('http'));
  // The runtime's debug namespace (Socket.IO) shares its HTTPS server; see debug.mjs.
  attachDebug(secure);
  attachDebug(plain);
  servers.push(secure.listen(HTTPS_PORT, '0.0.0.0'));
  servers.push(plain.listen(HTTP_PORT, '0.0.0.0'));
  process.stdout.write(`openplc-standin listening: https ${HTTPS_PORT}, http ${HTTP_PORT}\n`);
}, START_DELAY_MS);

// As PID 1 in a container Node gets no default signal handling, so without this `docker stop` waits the full grace period.
function shutdown(signal) {
  process.stdout.write(`openplc-standin stopping on ${signal}\n`);
  for (const s of servers) {
    s.close();
    s.closeAllConnections?.();
  }
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
