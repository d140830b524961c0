// `/metrics` of `syncline run` in Prometheus text format. Every scrape computes the figures afresh
// from the same sources as `syncline status`, so the two never disagree.
import { createServer, type Server } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import type { PipelineStatus } from './status.ts';

export interface MetricsSources {
  status: () => Promise<PipelineStatus>;
  children?: () => { name: string; up: boolean; restarts: number }[];
}

export interface PipelineMetrics {
  registry: Registry;
  /** Recompute every gauge; called before each scrape. */
  refresh(): Promise<void>;
}

export function pipelineRegistry(sources: MetricsSources): PipelineMetrics {
  const registry = new Registry();
  const g = (name: string, help: string, labelNames: string[]) =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const backlog = g('syncline_changelog_backlog', 'Changelog rows not yet published to Kafka', ['table']);
  const end = g('syncline_kafka_end_offset', 'Messages in the table topic (sum over partitions)', ['table']);
  const lag = g('syncline_kafka_lag', 'Messages the Spark job has not finished', ['table']);
  const rate = g('syncline_events_per_second', 'Events through the Spark job, last minute', ['table']);
  const dead = g('syncline_dead_letters', 'Events sent to the dead-letter topic (job history)', ['table']);
  const latency = g(
    'syncline_commit_to_sink_latency_ms',
    'Commit → sink latency over the last minute (bucket upper bound)',
    ['table', 'sink', 'quantile'],
  );
  const up = g('syncline_child_up', '1 while the supervised process runs', ['child']);
  const restarts = g('syncline_child_restarts', 'Restarts of the supervised process since run started', [
    'child',
  ]);
  const stamp = g('syncline_status_timestamp_seconds', 'When these figures were computed', []);
  const refresh = async (): Promise<void> => {
    const status = await sources.status();
    for (const t of status.tables) {
      backlog.set({ table: t.table }, t.changelogBacklog);
      end.set({ table: t.table }, Number(t.kafkaEndOffset));
      lag.set({ table: t.table }, Number(t.kafkaLag));
      rate.set({ table: t.table }, t.eventsPerSecond);
      dead.set({ table: t.table }, t.deadLetters);
      for (const sink of ['mongodb', 'redis'] as const) {
        const l = t.latencyMs[sink];
        if (l.p50 !== null)
          latency.set({ table: t.table, sink, quantile: '0.5' }, Number.isFinite(l.p50) ? l.p50 : -1);
        if (l.p99 !== null)
          latency.set({ table: t.table, sink, quantile: '0.99' }, Number.isFinite(l.p99) ? l.p99 : -1);
      }
    }
    for (const c of sources.children?.() ?? []) {
      up.set({ child: c.name }, c.up ? 1 : 0);
      restarts.set({ child: c.name }, c.restarts);
    }
    stamp.set(Date.now() / 1000);
  };
  return { registry, refresh };
}

export function serveMetrics(metrics: PipelineMetrics, port: number, host = '127.0.0.1'): Promise<Server> {
  const { registry } = metrics;
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404;
      res.end('only /metrics here\n');
      return;
    }
    metrics
      .refresh()
      .then(() => registry.metrics())
      .then((text) => {
        res.setHeader('content-type', registry.contentType);
        res.end(text);
      })
      .catch((err: Error) => {
        res.statusCode = 500;
        res.end(`# metrics failed: ${err.message}\n`);
      });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`--metrics-port ${port} is in use on ${host}; choose another port`)
          : err,
      ),
    );
    server.listen(port, host, () => resolve(server));
  });
}
