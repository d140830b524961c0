// A private MongoDB stand-in (its own port and data file), so a benchmark can load, profile and
// kill it without touching the shared stack's instance.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { ensureJvmModules, javaBinary, jvmClasspath } from '../src/stack/jvm.ts';

export interface PrivateStandin {
  url: string;
  port: number;
  pid: number;
  proc: ChildProcess;
  /** SIGTERM and wait (the store is closed cleanly). */
  stop(): Promise<void>;
  /** The last 4,000 characters the stand-in wrote to stderr (its log). */
  log(): string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `MongoStandin` on a free port. `classes` replaces the launcher's own jar on the classpath
 * (a directory or jar of another build, to compare two builds on the same data); `jvmArgs` adds
 * JVM options, e.g. a flight recording; `args` adds launcher options, e.g. `--checkpoint-ms`.
 */
export async function startStandin(
  dataFile: string,
  opts: { classes?: string; jvmArgs?: string[]; args?: string[] } = {},
): Promise<PrivateStandin> {
  ensureJvmModules(['mongo-standin']);
  const port = await freePort();
  let cp = jvmClasspath('mongo-standin');
  if (opts.classes) cp = `${opts.classes}:${cp.split(':').slice(0, -1).join(':')}`;
  const proc = spawn(
    javaBinary(),
    [
      '-Xms256m',
      '-Xmx2g',
      '-XX:+UseG1GC',
      ...(opts.jvmArgs ?? []),
      '-cp',
      cp,
      'dev.syncline.mongo.MongoStandin',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--data-file',
      dataFile,
      ...(opts.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`stand-in did not start in 120 s:\n${err}`)), 120_000);
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('READY')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stand-in exited (${code}) before READY:\n${err}`));
    });
  });
  return {
    url: `mongodb://127.0.0.1:${port}`,
    port,
    pid: proc.pid!,
    proc,
    log: () => err,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
