#!/usr/bin/env node
/**
 * Composition root: read the configuration, make the logger, start the agent. Nothing else lives here.
 * Bad configuration prints one line and exits 2 (no stack trace): an installer or a plant engineer
 * reads it, and Docker's restart policy must not hide it in a crash loop of stack dumps.
 *
 * `orchestrator-agent ctl …`, `orchestrator-agent doctor …` and `orchestrator-agent upgrade-self` are tools beside the agent: they are dispatched
 * before the agent's own options are read, and each reads the options it shares with the agent itself.
 */
import { basename, relative } from 'node:path';
import { startAgent } from './actors/agent.js';
import { localBanner } from './actors/local/banner.js';
import { ConfigError, ConfigInfoRequest, defaultDataDir, describeConfig, parseConfig } from './config.js';
import { IdentityError } from './io/cloud/identity.js';
import { createLogger } from './io/log/logger.js';
import { errorText } from './model/errors.js';

/** How this program was started, for the commands it suggests: `node dist/src/main.js` or `orchestrator-agent`. */
function invocation(): string {
  const script = process.argv[1] ?? 'orchestrator-agent';
  return basename(script) === 'main.js' ? `node ${relative(process.cwd(), script) || script}` : basename(script);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === 'upgrade-self') {
    // The upgrader's container (install/python-shim.sh runs this for `python src/tools/upgrade_self.py`).
    const { upgraderMain } = await import('./cli/upgrader/main.js');
    process.exitCode = await upgraderMain(process.env);
    return;
  }
  if (argv[0] === 'remove-volume-after') {
    // The last step of a self-destruct, in a container of its own (actors/orchestrator/selfDestruct.ts).
    const { removeVolumeAfterMain } = await import('./cli/upgrader/removeVolumeAfter.js');
    process.exitCode = await removeVolumeAfterMain(argv.slice(1));
    return;
  }
  if (argv[0] === 'ctl' || argv[0] === 'doctor') {
    const tools = await import('./cli/index.js');
    const tool = argv[0] === 'ctl' ? tools.runCtl : tools.runDoctor;
    process.exitCode = await tool(argv.slice(1), process.env, invocation());
    return;
  }

  let config: Awaited<ReturnType<typeof parseConfig>>;
  try {
    config = await parseConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigInfoRequest) {
      process.stdout.write(`${error.text}\n`);
      process.exit(0);
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`orchestrator-agent: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }

  const logger = createLogger({
    level: config.logLevel,
    dataDir: config.dataDir,
    retentionDays: config.logRetentionDays,
    fileMaxBytes: config.logFileMaxBytes,
    pretty: process.stdout.isTTY === true,
  });
  const { log } = logger;
  log.info({ config: describeConfig(config) }, 'starting orchestrator-agent');
  if (config.local.enabled) log.info({ reason: config.local.reason }, 'local mode');

  // A fault nothing can recover from in place (a root actor failed, an exception nobody caught) ends the process
  // with code 1, after a bounded attempt at a clean stop: a live process that answers nothing would keep every PLC
  // unsupervised, while the container's restart policy brings the agent back, and it adopts its runtimes as they run.
  let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
  let stopping = false;
  const shutdown = async (code: number, why: Record<string, unknown>) => {
    if (stopping) return;
    stopping = true;
    if (code === 0) log.info(why, 'stopping orchestrator-agent');
    else
      log.fatal(why, 'stopping orchestrator-agent after a fatal fault; the container restart policy starts it again');
    const deadline = new Promise((resolve) => setTimeout(resolve, 10_000).unref());
    await Promise.race([agent?.stop(), deadline]).catch(() => undefined);
    await logger.close();
    process.exit(code);
  };
  const fatal = (what: string, error: unknown) => void shutdown(1, { fault: what, err: errorText(error) });
  process.on('unhandledRejection', (reason) => fatal('an unhandled promise rejection', reason));
  process.on('uncaughtException', (error) => fatal('an uncaught exception', error));

  try {
    agent = await startAgent(config, log, { onFatal: fatal });
  } catch (error) {
    if (error instanceof IdentityError) {
      process.stderr.write(`orchestrator-agent: --mtls-dir: ${error.message}\n`);
      await logger.close();
      process.exit(2);
    }
    throw error;
  }

  process.on('SIGTERM', () => void shutdown(0, { signal: 'SIGTERM' }));
  process.on('SIGINT', () => void shutdown(0, { signal: 'SIGINT' }));

  // For the person at the terminal, like the local-mode banner below (docs/protocol.md#inspector).
  if (agent.inspectorUrl) process.stderr.write(`inspector  ${agent.inspectorUrl}/\n`);
  if (agent.metricsUrl) process.stderr.write(`metrics    ${agent.metricsUrl}\n`);

  if (agent.local) {
    // Written to stderr: it is for the person at the terminal, and stdout may be a stream of JSON log lines.
    const docker = await agent.local.docker(3_000);
    const ownDefault = config.dataDir === defaultDataDir(process.getuid?.());
    process.stderr.write(
      `${localBanner({
        reason: config.local.reason,
        endpointUrl: agent.local.endpointUrl,
        endpointFile: agent.local.endpointFile,
        docker,
        command: invocation(),
        dataDirFlag: ownDefault ? '' : ` --data-dir ${config.dataDir}`,
      })}\n`,
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`orchestrator-agent: failed to start: ${errorText(error)}\n`);
  process.exit(1);
});
