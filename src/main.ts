#!/usr/bin/env node
/**
 * Composition root: read the configuration, make the logger, start the agent. Nothing else lives here.
 * Bad configuration prints one line and exits 2 (no stack trace): an installer or a plant engineer
 * reads it, and Docker's restart policy must not hide it in a crash loop of stack dumps.
 */
import { startAgent } from './actors/agent.js';
import { ConfigError, ConfigInfoRequest, describeConfig, parseConfig } from './config.js';
import { IdentityError } from './io/cloud/identity.js';
import { createLogger } from './io/log/logger.js';
import { errorText } from './model/errors.js';

async function main(): Promise<void> {
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

  // A bug in one request or background task must never take the agent (and every PLC's supervision) down.
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled promise rejection'));
  process.on('uncaughtException', (error) => log.error({ err: error }, 'uncaught exception'));

  let agent: Awaited<ReturnType<typeof startAgent>>;
  try {
    agent = await startAgent(config, log);
  } catch (error) {
    if (error instanceof IdentityError) {
      process.stderr.write(`orchestrator-agent: --mtls-dir: ${error.message}\n`);
      await logger.close();
      process.exit(2);
    }
    throw error;
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping orchestrator-agent');
    await agent.stop();
    await logger.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`orchestrator-agent: failed to start: ${errorText(error)}\n`);
  process.exit(1);
});
