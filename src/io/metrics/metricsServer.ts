import type { Logger } from 'pino';
import { type Listening, listenHttp } from '../http/listen.js';
import type { ListenAddress } from '../../model/listen.js';
import type { AgentMetrics } from './prometheus.js';

/**
 * `/metrics` in the Prometheus text format, for plant IT's scrapers (docs/protocol.md#metrics). Read-only: GET and
 * HEAD of `/metrics`, nothing else. It listens where `--metrics` says; a scraper on another machine needs an
 * address it can reach, which the operator gives on purpose.
 */
export async function serveMetrics(at: ListenAddress, metrics: AgentMetrics, log: Logger): Promise<Listening> {
  const listening = await listenHttp(at, '--metrics', (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('only GET /metrics is served here\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found: the metrics are at /metrics\n');
      return;
    }
    metrics.scrape().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        log.error({ err }, 'could not collect the metrics');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('the agent could not collect its metrics; see its log\n');
      },
    );
  });
  log.info({ url: `${listening.url}/metrics` }, 'metrics endpoint listening');
  return listening;
}
