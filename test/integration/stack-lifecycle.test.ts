/**
 * `syncline stack up|down|status` as a user runs them, on a private stack (own state dir, own free
 * ports) so the shared stack of this test run is never disturbed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MongoClient } from 'mongodb';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';
import { isAlive } from '../../src/stack/process.ts';
import { closedPort } from '../support/ports.ts';

const CLI = join(PROJECT_ROOT, 'src', 'cli', 'main.ts');

function syncline(args: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    timeout: 240_000,
  });
  return { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

function json<T>(out: { code: number; stdout: string; stderr: string }): T {
  assert.equal(out.code, 0, `command failed:\n${out.stderr}\n${out.stdout}`);
  return JSON.parse(out.stdout) as T;
}

interface ServiceRow {
  name: string;
  state: string;
  pid: number | null;
  url: string;
  dataBytes: number;
}

describe('a private stack brought up, checked, stopped and brought back', () => {
  let stateDir: string;
  let portArgs: string[];

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'syncline-stack-'));
    portArgs = [
      '--state-dir',
      stateDir,
      '--mysql-port',
      String(await closedPort()),
      '--kafka-port',
      String(await closedPort()),
      '--kafka-controller-port',
      String(await closedPort()),
      '--mongodb-port',
      String(await closedPort()),
      '--redis-port',
      String(await closedPort()),
    ];
  });

  after(() => {
    syncline(['stack', 'down', ...portArgs]);
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('up brings all four services to healthy, and a second up leaves them alone', () => {
    const first = json<{ seconds: number; services: ServiceRow[]; started: string[] }>(
      syncline(['stack', 'up', '--json', ...portArgs]),
    );
    // Reported, not asserted: the machines are shared and noisy (the target is 90 s warm).
    console.log(`# stack up (all four services, fresh data dirs): ${first.seconds.toFixed(1)} s`);
    assert.deepEqual(first.started.sort(), ['kafka', 'mariadb', 'mongodb', 'redis']);
    for (const s of first.services) {
      assert.equal(s.state, 'running', `${s.name} should be running`);
      assert.ok(s.pid !== null && isAlive(s.pid), `${s.name} pid ${s.pid} should be alive`);
    }

    const second = json<{ services: ServiceRow[]; started: string[] }>(
      syncline(['stack', 'up', '--json', ...portArgs]),
    );
    assert.deepEqual(second.started, [], 'a running stack is left alone');
    assert.deepEqual(
      second.services.map((s) => s.pid),
      first.services.map((s) => s.pid),
    );
  });

  test('status reports each service with URL, pid, state and data size', () => {
    const status = json<{ services: ServiceRow[] }>(syncline(['stack', 'status', '--json', ...portArgs]));
    assert.deepEqual(
      status.services.map((s) => s.name),
      ['mariadb', 'kafka', 'mongodb', 'redis'],
    );
    for (const s of status.services) {
      assert.equal(s.state, 'running');
      assert.ok(s.dataBytes > 0, `${s.name} has data on disk`);
      assert.match(s.url, /127\.0\.0\.1:\d+/);
    }
    const human = syncline(['stack', 'status', ...portArgs]);
    assert.match(human.stdout, /SERVICE\s+STATE\s+PID\s+URL\s+DATA/);
  });

  test('a killed service is restarted by the next up, and the others keep their pids', () => {
    const before = json<{ services: ServiceRow[] }>(
      syncline(['stack', 'status', '--json', ...portArgs]),
    ).services;
    const redis = before.find((s) => s.name === 'redis')!;
    process.kill(redis.pid!, 'SIGKILL');
    const up = json<{ services: ServiceRow[]; started: string[] }>(
      syncline(['stack', 'up', '--json', ...portArgs]),
    );
    assert.deepEqual(up.started, ['redis']);
    const after = up.services;
    assert.notEqual(after.find((s) => s.name === 'redis')!.pid, redis.pid);
    for (const name of ['mariadb', 'kafka', 'mongodb']) {
      assert.equal(after.find((s) => s.name === name)!.pid, before.find((s) => s.name === name)!.pid);
    }
  });

  test('a document written to the MongoDB stand-in survives stack down and up', async () => {
    const status = json<{ services: ServiceRow[] }>(
      syncline(['stack', 'status', '--json', ...portArgs]),
    ).services;
    const url = status.find((s) => s.name === 'mongodb')!.url;
    let client = new MongoClient(url, { directConnection: true });
    await client.connect();
    await client
      .db('persist')
      .collection('docs')
      .insertOne({ _id: 'kept' as never, n: 1, note: 'survives a restart' });
    await client.close();

    const down = json<{ stopped: { name: string; pid: number }[] }>(
      syncline(['stack', 'down', '--json', ...portArgs]),
    );
    assert.deepEqual(down.stopped.map((s) => s.name).sort(), ['kafka', 'mariadb', 'mongodb', 'redis']);
    for (const s of down.stopped)
      assert.equal(isAlive(s.pid), false, `${s.name} pid ${s.pid} is gone after down`);

    json(syncline(['stack', 'up', '--json', ...portArgs]));
    client = new MongoClient(url, { directConnection: true });
    await client.connect();
    try {
      assert.deepEqual(
        await client
          .db('persist')
          .collection('docs')
          .findOne({ _id: 'kept' as never }),
        {
          _id: 'kept',
          n: 1,
          note: 'survives a restart',
        },
      );
    } finally {
      await client.close();
    }
  });

  test('down stops every process it started and nothing else', () => {
    const stranger: Server = createServer();
    const status = json<{ services: ServiceRow[] }>(
      syncline(['stack', 'status', '--json', ...portArgs]),
    ).services;
    const pids = status.map((s) => s.pid!);
    const down = json<{ stopped: { pid: number }[] }>(syncline(['stack', 'down', '--json', ...portArgs]));
    assert.deepEqual(down.stopped.map((s) => s.pid).sort(), [...pids].sort());
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} is gone`);
    assert.equal(isAlive(process.pid), true);
    stranger.close();
    const again = json<{ services: ServiceRow[] }>(syncline(['stack', 'status', '--json', ...portArgs]));
    assert.ok(again.services.every((s) => s.state === 'stopped'));
  });
});

describe('a port taken by something else', () => {
  test('up fails with a message naming the port and the option that changes it', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'syncline-port-'));
    // Something that listens but is not Redis: the stack must not take it for one.
    const squatter = createServer((socket) => socket.end('hello, I am not redis\n'));
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as { port: number }).port;
    try {
      const out = syncline([
        'stack',
        'up',
        '--state-dir',
        stateDir,
        '--only',
        'redis',
        '--redis-port',
        String(port),
      ]);
      assert.equal(out.code, 1);
      assert.match(out.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
      assert.match(out.stderr, /--redis-port <port>/);
      assert.match(out.stderr, /SYNCLINE_REDIS_PORT/);
    } finally {
      squatter.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
