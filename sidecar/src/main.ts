/**
 * Entry point of the network-monitor sidecar (container `autonomy_netmon`: host network, host PID).
 *
 *   node dist/sidecar/src/main.js [--socket /var/orchestrator/netmon.sock] [--data-dir /var/orchestrator]
 *                                 [--log-level info] [--dhcp-hook <path>] [--socket-mode 660] [--allow-uids <uid,...>]
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { DEFAULT_DATA_DIR, DEFAULT_SOCKET_PATH } from './protocol.js';
import { DEFAULT_HOOK_PATH, startSidecar } from './sidecar.js';
import { errorText } from '../../src/model/errors.js';
import { buildVersion } from '../../src/version.js';

const USAGE =
  'usage: netmon [--socket PATH] [--data-dir DIR] [--log-level fatal|error|warn|info|debug|trace] ' +
  '[--dhcp-hook PATH] [--socket-mode OCTAL] [--allow-uids UID,...] [--sys-root DIR] [--dev-root DIR]';
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      socket: { type: 'string', default: DEFAULT_SOCKET_PATH },
      'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
      'log-level': { type: 'string', default: 'info' },
      'dhcp-hook': { type: 'string', default: DEFAULT_HOOK_PATH },
      'socket-mode': { type: 'string', default: '660' },
      // Besides root and the sidecar's own uid: the agent's uid when the agent does not run as root.
      'allow-uids': { type: 'string', default: '' },
      'sys-root': { type: 'string', default: '/sys' },
      'dev-root': { type: 'string', default: '/dev' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const level = values['log-level'];
  const mode = Number.parseInt(values['socket-mode'], 8);
  const allowUids = values['allow-uids'].trim();
  if (!LEVELS.includes(level) || !/^[0-7]{3}$/.test(values['socket-mode']) || !/^(\d+(,\d+)*)?$/.test(allowUids)) {
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const log = pino({ level, base: { service: 'netmon' } });
  // The same place as the agent's version (both are built from one package.json): AGENT_VERSION, else package.json.
  const version = buildVersion(process.env);
  const sidecar = await startSidecar({
    socketPath: values.socket,
    version,
    dataDir: values['data-dir'],
    hookPath: values['dhcp-hook'],
    socketMode: mode,
    allowedUids: allowUids === '' ? [] : allowUids.split(',').map(Number),
    sysRoot: values['sys-root'],
    devRoot: values['dev-root'],
    log,
  });
  log.info(
    { step: 'sidecar.started', version, socket: values.socket, dataDir: values['data-dir'] },
    'network monitor running',
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ step: 'sidecar.stopping', signal }, 'stopping the network monitor');
    sidecar.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ step: 'sidecar.stop_failed', err }, 'could not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`netmon failed to start: ${errorText(err)}\n`);
  process.exit(1);
});
