// The capture's output for a scripted set of statements must equal the golden events in
// contract/golden/ byte for byte (after the documented normalisation of volatile fields), in both
// capture modes: the binlog reader must publish exactly what the trigger relay publishes, apart
// from source.capture, source.seq and the times. SYNCLINE_UPDATE_GOLDEN=1 rewrites the files from
// what the relay publishes instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { compactJson } from '../../src/model/event.ts';
import {
  CAPTURE_MODES,
  bySeq,
  drainWithCapture,
  freshDatabase,
  prepareCapture,
  readEvents,
  synclineTriggers,
  type CaptureMode,
} from './capture-support.ts';

const GOLDEN_DIR = path.resolve(import.meta.dirname, '../../contract/golden');

const DDL = [
  `CREATE TABLE all_types (
    id INT NOT NULL PRIMARY KEY,
    c_tinyint TINYINT NULL, c_tinyint_u TINYINT UNSIGNED NULL, c_smallint SMALLINT NULL, c_mediumint MEDIUMINT NULL,
    c_int INT NULL, c_int_u INT UNSIGNED NULL, c_bigint BIGINT NULL, c_bigint_u BIGINT UNSIGNED NULL,
    c_decimal DECIMAL(65,30) NULL, c_decimal_small DECIMAL(10,4) NULL, c_float FLOAT NULL, c_double DOUBLE NULL,
    c_bit1 BIT(1) NULL, c_bit5 BIT(5) NULL, c_bit64 BIT(64) NULL, c_bool BOOLEAN NULL,
    c_date DATE NULL, c_datetime DATETIME NULL, c_datetime3 DATETIME(3) NULL, c_datetime6 DATETIME(6) NULL,
    c_timestamp TIMESTAMP NULL DEFAULT NULL, c_timestamp6 TIMESTAMP(6) NULL DEFAULT NULL,
    c_time TIME NULL, c_time6 TIME(6) NULL, c_year YEAR NULL,
    c_char CHAR(10) NULL, c_varchar VARCHAR(100) NULL, c_text TEXT NULL, c_longtext LONGTEXT NULL,
    c_binary BINARY(4) NULL, c_varbinary VARBINARY(16) NULL, c_blob BLOB NULL,
    c_enum ENUM('pending','shipped','delivered') NULL, c_set SET('a','b','c') NULL,
    c_json JSON NULL, c_geometry GEOMETRY NULL
  ) CHARACTER SET utf8mb4`,
  `CREATE TABLE order_lines (
    order_id BIGINT UNSIGNED NOT NULL, line_no SMALLINT UNSIGNED NOT NULL,
    sku VARCHAR(32) NOT NULL, quantity INT NOT NULL, price DECIMAL(10,2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
  ) CHARACTER SET utf8mb4`,
];

const FULL_ROW = `INSERT INTO all_types VALUES (1,
  -128, 255, -32768, 8388607, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
  '12345678901234567890123456789012345.123456789012345678901234567890', 12.34, 1.5, -2.25e-10,
  b'1', b'00101', b'1111111111111111111111111111111111111111111111111111111111111111', TRUE,
  '2024-02-29', '2024-02-29 23:59:59', '2024-02-29 23:59:59.12', '2024-02-29 23:59:59.123456',
  '2024-03-01 04:59:59', '2024-03-01 04:59:59.654321',
  '-838:59:59', '12:00:00.5', 2024,
  'abc', 'héllo 👋 "quoted" \\\\ back', 'line1\\nline2\\ttab', REPEAT('x', 300),
  X'0001FF', X'0001FF', X'DEADBEEF',
  'shipped', 'a,c',
  '{"tags": ["x", "y"], "n": {"big": 123456789012345678901234567890, "f": 1.5, "t": true, "nil": null}, "s": "👋"}',
  ST_GeomFromText('POINT(1 2)'))`;

/** Each step: the statements, then the names of the events it must produce, in order. */
const SCRIPT: Array<{ sql: string[]; events: string[] }> = [
  { sql: [FULL_ROW], events: ['all-types-insert-every-type'] },
  { sql: ['INSERT INTO all_types (id) VALUES (2)'], events: ['all-types-insert-all-null'] },
  {
    sql: [
      `UPDATE all_types SET c_varchar = 'updated ✓', c_json = '[1, {"a": null}]', c_decimal = -0.5, c_bit1 = b'0' WHERE id = 1`,
    ],
    events: ['all-types-update'],
  },
  {
    // A rolled-back transaction must produce nothing.
    sql: ['START TRANSACTION', 'INSERT INTO all_types (id) VALUES (3)', 'ROLLBACK'],
    events: [],
  },
  {
    sql: ["INSERT INTO order_lines VALUES (42, 1, 'SKU-1', 2, 9.99), (42, 2, 'SKU-2', 1, 100.00)"],
    events: ['composite-key-insert-line-1', 'composite-key-insert-line-2'],
  },
  {
    sql: ['UPDATE order_lines SET line_no = 3 WHERE order_id = 42 AND line_no = 2'],
    events: ['pk-change-delete-old-key', 'pk-change-create-new-key'],
  },
  {
    sql: ['UPDATE order_lines SET quantity = 5 WHERE order_id = 42 AND line_no = 1'],
    events: ['composite-key-update'],
  },
  { sql: ['DELETE FROM order_lines WHERE order_id = 42 AND line_no = 1'], events: ['composite-key-delete'] },
  { sql: ['DELETE FROM all_types WHERE id = 2'], events: ['all-types-delete-all-null'] },
];

// A text-preserving pretty printer: number lexemes (30-digit integers) must survive untouched,
// which JSON.parse/stringify would not guarantee.
function pretty(compact: string): string {
  const tokens = compact.match(/"(?:[^"\\]|\\.)*"|[{}[\]:,]|[^{}[\]:,"]+/g) ?? [];
  let out = '';
  let depth = 0;
  const nl = (): string => `\n${'  '.repeat(depth)}`;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '{' || t === '[') {
      const close = t === '{' ? '}' : ']';
      if (tokens[i + 1] === close) {
        out += t + close;
        i++;
      } else {
        depth++;
        out += t + nl();
      }
    } else if (t === '}' || t === ']') {
      depth--;
      out += nl() + t;
    } else if (t === ',') out += ',' + nl();
    else if (t === ':') out += ': ';
    else out += t;
  }
  return out + '\n';
}

const SOURCE_TAIL =
  /"source":\{"name":"[^"]*","db":"[^"]*","table":("(?:[^"\\]|\\.)*"),"capture":"(trigger|binlog)","seq":"\d+","ts_ms":\d+\},"ts_ms":\d+\}$/;

/**
 * Volatile fields → fixed values (documented in contract/golden/README.md); a binlog event's
 * capture mode is compared as "trigger", the golden files being the relay's output.
 */
function normalise(value: string, ordinal: number, mode: CaptureMode): string {
  assert.match(value, SOURCE_TAIL, 'unexpected envelope layout');
  assert.equal(SOURCE_TAIL.exec(value)![2], mode, 'source.capture names the capture mode');
  return value.replace(
    SOURCE_TAIL,
    (_m, table: string) =>
      `"source":{"name":"syncline","db":"shop","table":${table},"capture":"trigger","seq":"${ordinal}","ts_ms":0},"ts_ms":0}`,
  );
}

for (const mode of CAPTURE_MODES)
  test(`${mode} capture publishes exactly the golden change events for a scripted set of statements`, async () => {
    await goldenRun(mode);
  });

async function goldenRun(mode: CaptureMode): Promise<void> {
  const fx = await freshDatabase('golden', DDL, mode);
  try {
    await prepareCapture(mode, fx.conn, fx.database);
    // Writers in a non-UTC zone: TIMESTAMP images must still come out in UTC.
    await fx.conn.query("SET time_zone = '+05:00'");
    for (const step of SCRIPT) for (const sql of step.sql) await fx.conn.query(sql);
    await fx.conn.query("SET time_zone = '+00:00'");

    await drainWithCapture(fx.config, fx.conn);
    if (mode === 'binlog') assert.deepEqual(await synclineTriggers(fx.conn, fx.database), []);
    const published = (await readEvents(fx.config, ['all_types', 'order_lines'])).sort(bySeq);
    const names = SCRIPT.flatMap((s) => s.events);
    assert.equal(published.length, names.length, `expected ${names.length} events, got ${published.length}`);

    const actual = new Map<string, string>();
    published.forEach((p, i) => {
      const table = p.event.source.table;
      const text = `{"description":${JSON.stringify(names[i])},"topic":"syncline.shop.${table}","key":${p.key},"value":${normalise(p.value, i + 1, mode)}}`;
      actual.set(`${String(i + 1).padStart(2, '0')}-${names[i]}.json`, text);
    });

    if (process.env.SYNCLINE_UPDATE_GOLDEN === '1' && mode === 'trigger') {
      for (const f of readdirSync(GOLDEN_DIR))
        if (/^\d\d-.*\.json$/.test(f)) rmSync(path.join(GOLDEN_DIR, f));
      for (const [file, text] of actual) writeFileSync(path.join(GOLDEN_DIR, file), pretty(text));
    }
    const goldenFiles = readdirSync(GOLDEN_DIR)
      .filter((f) => /^\d\d-.*\.json$/.test(f))
      .sort();
    assert.deepEqual(goldenFiles, [...actual.keys()], 'golden file names differ from the scripted events');
    for (const [file, text] of actual) {
      const golden = compactJson(readFileSync(path.join(GOLDEN_DIR, file), 'utf8'));
      assert.equal(text, golden, `${file}: ${mode} capture output differs from the golden event`);
    }

    // Spot checks that make the contract's representation explicit in this test, not only in files.
    const full = published[0]!.value;
    assert.ok(full.includes('"c_bigint_u":"18446744073709551615"'));
    assert.ok(
      full.includes('"c_decimal":"12345678901234567890123456789012345.123456789012345678901234567890"'),
    );
    assert.ok(full.includes('"big":123456789012345678901234567890'), 'nested JSON numbers keep every digit');
    assert.ok(full.includes('"c_timestamp6":"2024-02-29T23:59:59.654321Z"'), 'TIMESTAMP in UTC');
    assert.ok(full.includes('"c_bit64":"18446744073709551615"'));
    assert.equal(published[5]!.key, '{"order_id":"42","line_no":2}');
    assert.equal(published[6]!.key, '{"order_id":"42","line_no":3}');
  } finally {
    await fx.close();
  }
}
