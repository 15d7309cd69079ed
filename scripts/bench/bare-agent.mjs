// The transport floor the agent is compared with: a bare Node process that holds the same mTLS Socket.IO link to the
// same test cloud and acks every request at once with a reply of the same shape. Plain JavaScript run by plain
// `node` (no TypeScript loader), so its memory and start-up are those of Node plus socket.io-client.
//   node bare-agent.mjs <url> <client.crt> <client.key> <ca.pem>
import { readFileSync } from 'node:fs';
import { io } from 'socket.io-client';

const [url, certFile, keyFile, caFile] = process.argv.slice(2);
const socket = io(url, {
  transports: ['websocket'],
  cert: readFileSync(certFile),
  key: readFileSync(keyFile),
  ca: readFileSync(caFile),
  reconnection: false,
});
socket.on('connect', () => socket.emit('heartbeat', { agent_id: 'bare', status: 'active' }));
socket.onAny((topic, payload, ack) => {
  if (typeof ack !== 'function') return;
  const correlationId = payload && typeof payload === 'object' ? (payload.correlation_id ?? null) : null;
  ack({ action: topic, correlation_id: correlationId, status: 'success', device_id: payload?.device_id ?? null });
});
process.on('SIGTERM', () => {
  socket.close();
  process.exit(0);
});
