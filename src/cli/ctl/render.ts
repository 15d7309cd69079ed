import type { View } from './args.js';

/**
 * Replies as a person reads them. Only what the wire contract says is relied on; anything else is shown as
 * indented JSON, so a reply this file does not know is still printed whole.
 */

type Reply = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export function isFailure(reply: unknown): boolean {
  const status = (reply as Reply | null)?.status;
  return status === 'error' || status === 'not_found';
}

export function duration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  const h = Math.floor(s / 3600);
  return h < 48 ? `${h} h ${Math.floor((s % 3600) / 60)} min` : `${Math.floor(h / 24)} days`;
}

/** The lifecycle in a few words: `running, ready`, `stopped (wants running)`, `creating.networks`. */
export function lifecycle(reply: Reply): string {
  const state = str(reply.state) ?? String(reply.status ?? 'unknown');
  const parts = [state];
  if (state === 'running') parts.push(reply.ready === true ? 'ready' : 'not ready yet');
  const wants = str(reply.desired_state);
  const top = state.split('.')[0];
  if (wants && top !== wants && (top === 'running' || top === 'stopped')) parts.push(`wants ${wants}`);
  return parts.join(', ');
}

function renderStatus(reply: Reply, asked: string | undefined): string {
  const id = str(reply.device_id) ?? asked ?? '?';
  if (reply.status === 'not_found') return `${id}: not found (${str(reply.message) ?? 'no such vPLC'})`;
  if (reply.status === 'error') {
    const failure = reply.failure as { reason?: string } | undefined;
    return `${id}: error: ${str(reply.error) ?? failure?.reason ?? 'unknown error'}`;
  }
  const lines = [`${id}: ${lifecycle(reply)}`];
  if (reply.status === 'creating' || reply.status === 'deleting') {
    if (str(reply.step)) lines.push(`  step        ${reply.step}`);
    if (str(reply.message)) lines.push(`  ${reply.message}`);
    return lines.join('\n');
  }
  const container = [str(reply.container_status) ?? 'unknown'];
  if (typeof reply.uptime_seconds === 'number') container.push(`up ${duration(reply.uptime_seconds)}`);
  if (reply.is_running === false && reply.exit_code !== undefined && reply.exit_code !== null) {
    container.push(`exit code ${reply.exit_code}`);
  }
  if (typeof reply.restart_count === 'number') {
    container.push(`${reply.restart_count} restart${reply.restart_count === 1 ? '' : 's'}`);
  }
  lines.push(`  container   ${container.join(', ')}`);
  for (const [network, n] of Object.entries((reply.networks as Record<string, Reply> | undefined) ?? {})) {
    const bits = [`ip ${str(n.ip_address) ?? '-'}`, `mac ${str(n.mac_address) ?? '-'}`];
    if (str(n.gateway)) bits.push(`gateway ${n.gateway}`);
    lines.push(`  network     ${network}  ${bits.join('  ')}`);
  }
  if (str(reply.internal_ip)) lines.push(`  internal ip ${reply.internal_ip}`);
  for (const port of (reply.serial_ports as Reply[] | undefined) ?? []) {
    const where = str(port.current_host_path) ? ` at ${port.current_host_path}` : '';
    const why = str(port.error) ? `: ${port.error}` : '';
    lines.push(`  serial      ${port.name} ${port.container_path} ← ${port.device_id}: ${port.status}${where}${why}`);
  }
  if (str(reply.last_error)) lines.push(`  last error  ${reply.last_error}`);
  const failure = reply.failure as { reason?: string } | undefined;
  if (failure?.reason) lines.push(`  failed      ${failure.reason}`);
  return lines.join('\n');
}

function renderList(reply: Reply): string {
  if (reply.status === 'error') return `error: ${str(reply.error) ?? 'unknown error'}`;
  const devices = (reply.devices as Reply[] | undefined) ?? [];
  if (devices.length === 0) return 'no vPLCs yet (create one with: ctl create NAME --parent IF --ip A/P)';
  const rows = devices.map((d) => [
    String(d.device_id),
    String(d.state),
    d.ready === true ? 'yes' : 'no',
    String(d.desired_state),
    str(d.step) ?? str(d.last_error) ?? '',
  ]);
  const table = [['NAME', 'STATE', 'READY', 'WANTS', 'STEP OR LAST ERROR'], ...rows];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  return table
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function renderAck(topic: string, reply: Reply, asked: string | undefined): string {
  const subject = str(reply.device_id) ?? str(reply.container_id) ?? asked ?? '';
  const head = `${topic}${subject ? ` ${subject}` : ''}: ${String(reply.status)}`;
  if (reply.status === 'error') return `${head}: ${str(reply.error) ?? 'unknown error'}`;
  return str(reply.message) ? `${head} (${reply.message})` : head;
}

function body(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

function renderHttp(reply: Reply, logs: boolean): string {
  if (reply.status === 'error' && reply.http_response === undefined) {
    return `error: ${str(reply.error) ?? 'unknown error'}`;
  }
  const http = (reply.http_response as Reply | undefined) ?? {};
  if (logs && http.ok === true) {
    // The runtime answers its log as one text field of a JSON object, or as plain text.
    const b = http.body;
    if (typeof b === 'string') return b;
    const texts = b && typeof b === 'object' ? Object.values(b as Reply).filter((v) => typeof v === 'string') : [];
    if (texts.length === 1) return String(texts[0]);
  }
  const type = str(http.content_type);
  return [`HTTP ${String(http.status_code ?? '?')}${type ? ` (${type})` : ''}`, body(http.body)].join('\n');
}

/** `payload` is what was sent: its device names the subject when a refusal does not. */
export function render(view: View, topic: string, reply: unknown, payload: Reply = {}): string {
  if (reply === null || typeof reply !== 'object' || Array.isArray(reply)) return body(reply);
  const r = reply as Reply;
  const asked = str(payload.device_id) ?? str(payload.container_name);
  switch (view) {
    case 'status':
      return renderStatus(r, asked);
    case 'list':
      return renderList(r);
    case 'ack':
      return renderAck(topic, r, asked);
    case 'http':
      return renderHttp(r, false);
    case 'logs':
      return renderHttp(r, true);
    default:
      return JSON.stringify(r, null, 2);
  }
}
