// The OpenPLC runtime's debug endpoint, as the stand-in serves it (docs/protocol.md#runtime-debug-protocol):
// POST /api/login answering a JWT, and the Flask-SocketIO namespace /api/debug over HTTP long-polling only
// (the runtime sets allow_upgrades=False), with the runtime's ping interval and timeout. The Socket.IO server is the
// real `socket.io` package, copied into the image with its dependencies by scripts/build-runtime-standin.sh.
//
// The PLC behind it is simulated: a table of variables (BOOL, INT, DINT, REAL), a scan tick that advances every
// 10 ms, forcing, and the program's MD5. Replies use the runtime's hex framing (protocol 0x41/0x42/0x44/0x45).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Server } from 'socket.io';

const USERNAME = process.env.STANDIN_DEBUG_USER ?? 'openplc';
const PASSWORD = process.env.STANDIN_DEBUG_PASSWORD ?? 'openplc';
const TOKEN_TTL_S = Number(process.env.STANDIN_TOKEN_TTL_S ?? 900);
const SCAN_MS = 10;
const SECRET = randomBytes(32);
const startedAt = Date.now();

const PROGRAM_MD5 = createHash('md5').update('PROGRAM standin\nEND_PROGRAM\n').digest('hex');

// [name, size in bytes, value function of the tick]
const VARIABLES = [];
for (let i = 0; i < 32; i++) {
  const kind = i % 4;
  if (kind === 0) VARIABLES.push({ size: 1, value: (tick) => (Math.floor(tick / 50) + i) % 2 });
  if (kind === 1) VARIABLES.push({ size: 2, value: (tick) => (tick + i * 100) & 0xffff });
  if (kind === 2) VARIABLES.push({ size: 4, value: (tick) => (tick * (i + 1)) >>> 0 });
  if (kind === 3) VARIABLES.push({ size: 4, value: (tick) => floatBits(20 + Math.sin(tick / 100) * (i + 1)) });
}
const forced = new Map();

function floatBits(value) {
  const b = Buffer.alloc(4);
  b.writeFloatBE(value);
  return b.readUInt32BE();
}

function currentTick() {
  return Math.floor((Date.now() - startedAt) / SCAN_MS) >>> 0;
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

function makeToken(username) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const now = Math.floor(Date.now() / 1000);
  const payload = b64url(JSON.stringify({ sub: username, role: 'admin', iat: now, exp: now + TOKEN_TTL_S }));
  const signature = b64url(createHmac('sha256', SECRET).update(`${header}.${payload}`).digest());
  return `${header}.${payload}.${signature}`;
}

/** 'ok', 'expired' or 'invalid' */
function checkToken(token) {
  if (typeof token !== 'string') return 'invalid';
  const parts = token.split('.');
  if (parts.length !== 3) return 'invalid';
  const expected = createHmac('sha256', SECRET).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return payload.exp > Date.now() / 1000 ? 'ok' : 'expired';
  } catch {
    return 'invalid';
  }
}

/** The REST login: 200 {access_token} or 401 "Wrong username or password", like webserver/restapi.py. */
export function login(body, sendJson, res) {
  let creds;
  try {
    creds = JSON.parse(body.toString('utf8'));
  } catch {
    return sendJson(res, 400, { error: 'Invalid JSON' });
  }
  if (creds?.username !== USERNAME || creds?.password !== PASSWORD)
    return sendJson(res, 401, 'Wrong username or password');
  return sendJson(res, 200, { access_token: makeToken(creds.username) });
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

function valueBytes(index, tick) {
  const v = VARIABLES[index];
  const buf = Buffer.alloc(v.size);
  const value = forced.has(index) ? forced.get(index) : v.value(tick);
  if (Buffer.isBuffer(value)) value.copy(buf, 0, 0, v.size);
  else if (v.size === 1) buf.writeUInt8(value & 0xff);
  else if (v.size === 2) buf.writeUInt16BE(value & 0xffff);
  else buf.writeUInt32BE(value >>> 0);
  return buf;
}

/** What the PLC core answers to one debug frame (bytes in, bytes out), or an error text. */
function core(frame) {
  const fc = frame[0];
  if (fc === 0x41) return [0x41, VARIABLES.length >> 8, VARIABLES.length & 0xff];
  if (fc === 0x45) return [0x45, 0x7e, ...Buffer.from(PROGRAM_MD5, 'latin1'), 0];
  if (fc === 0x44) {
    if (frame.length < 3) return [0x44, 0x81];
    const n = (frame[1] << 8) | frame[2];
    if (frame.length < 3 + n * 2) return [0x44, 0x81];
    const tick = currentTick();
    const data = [];
    let last = 0;
    for (let i = 0; i < n; i++) {
      const index = (frame[3 + i * 2] << 8) | frame[4 + i * 2];
      if (index >= VARIABLES.length) return [0x44, 0x81];
      data.push(...valueBytes(index, tick));
      last = index;
    }
    return [
      0x44,
      0x7e,
      last >> 8,
      last & 0xff,
      (tick >>> 24) & 0xff,
      (tick >>> 16) & 0xff,
      (tick >>> 8) & 0xff,
      tick & 0xff,
      data.length >> 8,
      data.length & 0xff,
      ...data,
    ];
  }
  if (fc === 0x42) {
    if (frame.length < 6) return [0x42, 0x81];
    const index = (frame[1] << 8) | frame[2];
    const force = frame[3] === 1;
    const len = (frame[4] << 8) | frame[5];
    if (index >= VARIABLES.length || frame.length < 6 + len) return [0x42, 0x81];
    if (force) forced.set(index, Buffer.from(frame.subarray(6, 6 + len)));
    else forced.delete(index);
    return [0x42, 0x7e];
  }
  return null;
}

function parseHex(text) {
  const compact = String(text).replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(compact)) return null;
  return Buffer.from(compact, 'hex');
}

/** Attaches the debug namespace to one of the stand-in's HTTP(S) servers. */
export function attachDebug(server) {
  const io = new Server(server, {
    transports: ['polling'],
    allowUpgrades: false,
    pingInterval: 25_000,
    pingTimeout: 60_000,
    serveClient: false,
    maxHttpBufferSize: 1_000_000,
  });
  const nsp = io.of('/api/debug');
  nsp.use((socket, next) => {
    const token = socket.handshake.auth?.token ?? socket.handshake.query?.token;
    if (checkToken(token) !== 'ok') return next(new Error('Unauthorized'));
    socket.data.token = token;
    next();
  });
  nsp.on('connection', (socket) => {
    process.stdout.write(`${new Date().toISOString()} debug connected ${socket.id}\n`);
    socket.emit('connected', { status: 'ok' });
    socket.on('debug_command', (msg) => {
      // Like newer runtimes, the token is verified on every command.
      const state = checkToken(socket.data.token);
      if (state !== 'ok') {
        socket.emit('debug_response', {
          success: false,
          error: state === 'expired' ? 'token_expired' : 'Unauthorized',
        });
        return;
      }
      const command = msg?.command;
      if (typeof command !== 'string' || command.trim() === '') {
        socket.emit('debug_response', { success: false, error: 'Empty command' });
        return;
      }
      const frame = parseHex(command);
      const answer = frame ? core(frame) : null;
      if (!answer) {
        socket.emit('debug_response', { success: false, error: 'Unexpected response format' });
        return;
      }
      socket.emit('debug_response', { success: true, data: hex(answer) });
    });
  });
  return io;
}
