/**
 * What local mode prints once it is up: where the endpoint is, whether Docker answered, and the commands that
 * drive it, so a new user's next step is on the screen.
 */

export interface BannerFacts {
  reason: string;
  endpointUrl: string;
  endpointFile: string;
  docker: { address: string; reachable: boolean; problem: string | null };
  /** How this agent was started, e.g. `node dist/src/main.js`: the ctl commands are shown the same way. */
  command: string;
  /** `--data-dir <dir>` when ctl would not find the data folder by itself, else ''. */
  dataDirFlag: string;
}

export function localBanner(f: BannerFacts): string {
  const ctl = `${f.command} ctl${f.dataDirFlag}`;
  const docker = f.docker.reachable
    ? `${f.docker.address} (reachable)`
    : `${f.docker.address} is unavailable${f.docker.problem ? ` (${f.docker.problem})` : ''}: topics that need ` +
      'Docker answer so until it is started; the agent connects by itself';
  return [
    '',
    `orchestrator-agent is running in local mode: ${f.reason}.`,
    `  endpoint  ${f.endpointUrl} (mTLS with the local CA; ctl finds it through ${f.endpointFile})`,
    `  docker    ${docker}`,
    `  drive it  ${ctl} list`,
    `            ${ctl} create plc1 --parent eth0 --ip 192.168.1.50/24 --gateway 192.168.1.1`,
    `            ${ctl} status plc1`,
    `            ${ctl} --help`,
    `  check it  ${f.command} doctor${f.dataDirFlag}`,
    '',
  ].join('\n');
}
