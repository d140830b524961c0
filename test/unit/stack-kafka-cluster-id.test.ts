// A KRaft cluster id that starts with '-' is read as an option by Kafka's storage tool, which then
// refuses to format: the stack must never generate one.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveStackOptions } from '../../src/stack/options.ts';
import { KafkaService } from '../../src/stack/services/kafka.ts';

test('generated Kafka cluster ids never start with a dash and have the 22-character form', () => {
  for (let i = 0; i < 300; i++) {
    const stateDir = mkdtempSync(join(tmpdir(), 'syncline-cid-'));
    const service = new KafkaService(resolveStackOptions({ stateDir }));
    mkdirSync(service.home(), { recursive: true });
    const id = (service as unknown as { clusterId(): string }).clusterId();
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    assert.equal(readFileSync(join(service.home(), 'cluster-id'), 'utf8').trim(), id);
  }
});
