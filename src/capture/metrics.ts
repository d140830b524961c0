// Counters of the capture stage, in their own prom-client registry so `status` (and tests) can read
// them without picking up other stages' metrics.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface CaptureMetrics {
  registry: Registry;
  events: Counter<'table' | 'op'>;
  batches: Counter;
  deadLetters: Counter<'table' | 'reason'>;
  backlog: Gauge;
  lagSeconds: Gauge;
  active: Gauge;
  batchSeconds: Histogram;
}

export function createCaptureMetrics(): CaptureMetrics {
  const registry = new Registry();
  return {
    registry,
    events: new Counter({
      name: 'syncline_capture_events_total',
      help: 'Change events published to Kafka (and acknowledged), per table and op',
      labelNames: ['table', 'op'],
      registers: [registry],
    }),
    batches: new Counter({
      name: 'syncline_capture_batches_total',
      help: 'Relay batches published',
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'syncline_capture_dead_letters_total',
      help: 'Change events the relay could not publish (too large) and sent to the DLQ topic instead, per table and reason',
      labelNames: ['table', 'reason'],
      registers: [registry],
    }),
    backlog: new Gauge({
      name: 'syncline_capture_backlog',
      help: 'Changelog rows waiting to be published',
      registers: [registry],
    }),
    lagSeconds: new Gauge({
      name: 'syncline_capture_lag_seconds',
      help: 'Age of the oldest unpublished change at the last poll (0 when the changelog was empty)',
      registers: [registry],
    }),
    active: new Gauge({
      name: 'syncline_capture_active',
      help: '1 while this relay holds the source lock',
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'syncline_capture_batch_seconds',
      help: 'Time from reading a batch to deleting it after the Kafka ack',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

/** Process-wide instance used by `syncline capture`; `status` reads it through this export. */
export const captureMetrics: CaptureMetrics = createCaptureMetrics();
