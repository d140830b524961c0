// The local Spark job's class archive (decision 0105): built once per classpath, never left
// half-written at the path a JVM maps, and then the source of the job's classes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { classArchiveOptions } from '../../src/spark/class-archive.ts';
import { buildJobDescription } from '../../src/spark/job-description.ts';
import { MAIN_CLASS, localJvmOptions, writeJobFile } from '../../src/spark/launcher.ts';
import { ensureJvmModules, javaBinary, jvmClasspath } from '../../src/stack/jvm.ts';
import { isAlive } from '../../src/stack/process.ts';
import { SPARK_JAVA_FLAGS } from '../../src/stack/services/spark.ts';
import { kvTable } from './spark-support.ts';

const dir = mkdtempSync(join(tmpdir(), 'syncline-class-archive-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a killed archive dump leaves no archive behind; the next start builds one, and the job then loads its classes from it', async () => {
  ensureJvmModules(['spark-job']);
  const java = javaBinary();
  const classpath = jvmClasspath('spark-job', { pinned: true });

  // The first start finds no archive: it runs without one and a dump starts in the background.
  assert.deepEqual(classArchiveOptions(java, SPARK_JAVA_FLAGS, classpath, { dir }), []);
  const lock = readdirSync(dir).find((n) => n.endsWith('.lock'));
  assert.ok(lock, `a dump is under way (files: ${readdirSync(dir).join(', ')})`);
  const builder = Number(readFileSync(join(dir, lock), 'utf8'));
  assert.ok(isAlive(builder));
  // A second start meanwhile does not start a second dump.
  assert.deepEqual(classArchiveOptions(java, SPARK_JAVA_FLAGS, classpath, { dir }), []);
  assert.equal(readdirSync(dir).filter((n) => n.endsWith('.lock')).length, 1);

  // Killed while it works (as soon as it writes, or after 20 s): nothing a JVM would map is left.
  for (let i = 0; i < 200 && !readdirSync(dir).some((n) => n.endsWith('.tmp')); i++) await sleep(100);
  process.kill(-builder, 'SIGKILL');
  for (let i = 0; i < 100 && isAlive(builder); i++) await sleep(100);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.endsWith('.jsa')),
    [],
    'no archive at the path a JVM would map',
  );

  // The dead builder's lock does not block the next start, which builds the archive.
  const options = classArchiveOptions(java, SPARK_JAVA_FLAGS, classpath, { dir, wait: true });
  assert.match(options[0] ?? '', /^-XX:SharedArchiveFile=.*\.jsa$/);
  assert.ok(existsSync(options[0]!.slice('-XX:SharedArchiveFile='.length)));
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.endsWith('.lock') || n.endsWith('.tmp')),
    [],
    'the lock and temporary file are gone',
  );

  // The job's --check run with that archive: -Xshare:on stops the JVM if the archive cannot be
  // used with this classpath, and the class-loading log says where each class came from.
  const jobFile = writeJobFile(
    buildJobDescription({
      name: 'class-archive',
      source: { id: 'class-archive-test', label: 'class-archive@test' },
      kafka: { bootstrapServers: '127.0.0.1:9', dlqTopic: 'class-archive.dlq' },
      checkpointLocation: join(dir, 'checkpoint'),
      triggerIntervalMs: 500,
      progressFile: join(dir, 'progress.jsonl'),
      sinks: { mongodb: { database: 'class_archive' }, redis: {} },
      tables: [
        { schema: kvTable(), topic: 'class-archive.kv', redis: { keyTemplate: 'class-archive:{key}' } },
      ],
    }),
    join(dir, 'job.json'),
  );
  const loadLog = join(dir, 'class-load.log');
  const withArchive = options.map((o) => (o === '-Xshare:auto' ? '-Xshare:on' : o));
  const r = spawnSync(
    java,
    [
      ...localJvmOptions('1g', {}),
      ...withArchive,
      `-Xlog:class+load=info:file=${loadLog}`,
      '-cp',
      classpath,
      MAIN_CLASS,
      '--check',
      jobFile,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  assert.deepEqual(JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('['))!), []);
  const spark = readFileSync(loadLog, 'utf8')
    .split('\n')
    // Lambda classes are spun at run time (their source is the class that made them).
    .filter((l) => / org\.apache\.spark\.\S+ source: /.test(l) && !l.includes('$$Lambda'));
  const shared = spark.filter((l) => l.includes('source: shared objects file'));
  assert.ok(spark.length > 1000, `Spark classes loaded: ${spark.length}`);
  assert.ok(
    shared.length / spark.length > 0.9,
    `Spark classes from the archive: ${shared.length} of ${spark.length}`,
  );

  // Switched off by the environment.
  assert.deepEqual(
    classArchiveOptions(java, SPARK_JAVA_FLAGS, classpath, {
      dir,
      env: { SYNCLINE_SPARK_CLASS_ARCHIVE: 'off' },
    }),
    [],
  );
});

test('a dump that fails is not tried again at every start', () => {
  ensureJvmModules(['spark-job']);
  const java = javaBinary();
  const classpath = jvmClasspath('spark-job', { pinned: true });
  const own = mkdtempSync(join(dir, 'failing-'));
  // An option the JVM does not know stops the dump at once.
  const broken = [...SPARK_JAVA_FLAGS, '-XX:+SynclineNoSuchOption'];
  assert.deepEqual(classArchiveOptions(java, broken, classpath, { dir: own, wait: true }), []);
  assert.deepEqual(
    readdirSync(own).filter((n) => !n.endsWith('.failed')),
    [],
    'no archive, lock or temporary file',
  );
  assert.equal(readdirSync(own).filter((n) => n.endsWith('.failed')).length, 1);
  // The next start sees the marker: no new dump (it would leave a lock while it runs).
  assert.deepEqual(classArchiveOptions(java, broken, classpath, { dir: own }), []);
  assert.deepEqual(
    readdirSync(own).filter((n) => n.endsWith('.lock')),
    [],
  );
});
