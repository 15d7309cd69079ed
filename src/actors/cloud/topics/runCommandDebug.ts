import type { TopicContext } from '../../../io/cloud/router.js';
import type { RunCommandDebugResult, RunCommandRequest } from '../../../io/cloud/topics/index.js';
import { truncate } from '../../../model/echo.js';
import type { HttpDebugSessions } from '../../debug/httpSessions.js';
import type { VplcStatus } from '../../vplc/supervisor.js';

/**
 * run_command with `api: "debug"` (docs/protocol.md#run-command-debug): `data` is a debug message for the named
 * vPLC's runtime. Unlike the old agent, a `data` that is not an object gets an error reply instead of none.
 */
export async function runCommandDebug(
  req: RunCommandRequest,
  status: VplcStatus | undefined,
  sessions: HttpDebugSessions,
  ctx: Pick<TopicContext, 'signal' | 'transient'>,
): Promise<RunCommandDebugResult> {
  if (!status || status.phase === 'deleted') {
    return {
      status: 'error',
      debug_response: { type: 'debug_error', error: `Device ${truncate(req.device_id)} not found` },
    };
  }
  const data = req.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return {
      status: 'error',
      debug_response: {
        type: 'debug_error',
        error:
          'run_command with api "debug" needs data: a debug message object such as {"type": "debug_start", "username": ..., "password": ...}',
      },
    };
  }
  const reply = await sessions.handle(req.device_id, data as Record<string, unknown>, ctx.signal);
  return { status: 'success', debug_response: reply };
}
