// Keeps the pipeline's child processes (the relay, the Spark driver) running: a child that dies is
// restarted with exponential backoff; one that keeps dying makes the supervisor give up loudly.
import type { ChildProcess } from 'node:child_process';

export interface ChildSpec {
  name: string;
  start(): ChildProcess;
}

export interface SupervisorOptions {
  /** First restart delay; doubles per consecutive failure up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Give up after this many consecutive quick deaths. */
  maxFailures?: number;
  /** A child that ran at least this long before dying starts a fresh failure count. */
  healthyAfterMs?: number;
  log?: (line: string) => void;
  /** Called after every (re)start of a child, e.g. to record its pid. */
  onLaunch?: (name: string, pid: number | undefined) => void;
}

interface Running {
  spec: ChildSpec;
  child: ChildProcess | null;
  startedAt: number;
  failures: number;
  restarts: number;
  timer: NodeJS.Timeout | null;
  /** Set by restart(): the coming exit is wanted and is not counted as a failure. */
  replacing: boolean;
}

export class Supervisor {
  readonly #opts: Required<Omit<SupervisorOptions, 'onLaunch'>> & Pick<SupervisorOptions, 'onLaunch'>;
  readonly #children = new Map<string, Running>();
  #stopping = false;
  #gaveUp: ((err: Error) => void) | null = null;
  #failure: Error | null = null;
  /** Rejects when a child failed too often; resolves when stop() finished. */
  readonly done: Promise<void>;
  #resolveDone!: () => void;

  constructor(options: SupervisorOptions = {}) {
    this.#opts = {
      backoffMs: options.backoffMs ?? 1000,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      maxFailures: options.maxFailures ?? 6,
      healthyAfterMs: options.healthyAfterMs ?? 60_000,
      log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
      onLaunch: options.onLaunch,
    };
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#gaveUp = reject;
    });
  }

  add(spec: ChildSpec): void {
    const running: Running = {
      spec,
      child: null,
      startedAt: 0,
      failures: 0,
      restarts: 0,
      timer: null,
      replacing: false,
    };
    this.#children.set(spec.name, running);
    this.#launch(running);
  }

  /** pid of a child (for status and for tests that kill it on purpose). */
  pid(name: string): number | undefined {
    return this.#children.get(name)?.child?.pid;
  }

  restarts(name: string): number {
    return this.#children.get(name)?.restarts ?? 0;
  }

  #launch(running: Running): void {
    if (this.#stopping) return;
    running.startedAt = Date.now();
    const child = running.spec.start();
    running.child = child;
    this.#opts.onLaunch?.(running.spec.name, child.pid);
    child.once('error', (err) => this.#opts.log(`run: ${running.spec.name} could not start: ${err.message}`));
    child.once('exit', (code, signal) => {
      running.child = null;
      if (this.#stopping) return;
      if (running.replacing) {
        running.replacing = false;
        running.restarts += 1;
        this.#launch(running);
        return;
      }
      const ranMs = Date.now() - running.startedAt;
      running.failures = ranMs >= this.#opts.healthyAfterMs ? 1 : running.failures + 1;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      if (running.failures > this.#opts.maxFailures) {
        const err = new Error(
          `${running.spec.name} ${how} and failed ${running.failures} times in a row; giving up. See its log above and fix the cause, then run again (progress is kept).`,
        );
        this.#opts.log(`run: ${err.message}`);
        // stop() settles `done`; with the failure recorded first it rejects instead of resolving,
        // so `run` exits non-zero rather than as if it had been stopped on purpose.
        this.#failure = err;
        void this.stop();
        return;
      }
      const delay = Math.min(this.#opts.backoffMs * 2 ** (running.failures - 1), this.#opts.maxBackoffMs);
      this.#opts.log(
        `run: ${running.spec.name} ${how} after ${(ranMs / 1000).toFixed(1)} s; restarting in ${(delay / 1000).toFixed(1)} s`,
      );
      running.timer = setTimeout(() => {
        running.timer = null;
        running.restarts += 1;
        this.#launch(running);
      }, delay);
    });
  }

  /** Stops a child on purpose (SIGTERM) and starts it again at once, e.g. with a new job file. */
  /**
   * Resolves once the old process has exited, so that what the caller does next (e.g. reload a
   * table) cannot be handled by it: a stopping Spark job still writes what it reads.
   */
  restart(name: string, graceMs = 30_000): Promise<void> {
    const running = this.#children.get(name);
    if (!running || this.#stopping) return Promise.resolve();
    const child = running.child;
    if (!child) {
      if (running.timer) clearTimeout(running.timer);
      running.timer = null;
      this.#launch(running);
      return Promise.resolve();
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    running.replacing = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    return exited.finally(() => clearTimeout(timer));
  }

  /** SIGTERM every child, SIGKILL after graceMs, and wait until all have exited. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.#stopping) return this.done.catch(() => undefined);
    this.#stopping = true;
    await Promise.all(
      [...this.#children.values()].map(async (running) => {
        if (running.timer) clearTimeout(running.timer);
        const child = running.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
    if (this.#failure) this.#gaveUp?.(this.#failure);
    else this.#resolveDone();
  }
}
