// `syncline demo schema | seed | workload`: the sample e-commerce database and live traffic.
import type { Command } from 'commander';
import type { Config } from '../../config/load.ts';
import { connect } from '../connect.ts';
import { createDemoSchema, seedDemo } from './seed.ts';
import { runWorkload } from './workload.ts';

const DEFAULT_DATABASE = 'shop';

type LoadConfig = (cmd: Command) => Config;

/** The demo works with no syncline.yaml at all: database defaults to "shop". */
function demoConfig(cmd: Command, load: LoadConfig): Config {
  const flags = cmd.optsWithGlobals() as { database?: string };
  if (!flags.database) cmd.setOptionValue('database', undefined);
  try {
    return load(cmd);
  } catch (err) {
    if (!flags.database && /source\.database: required/.test((err as Error).message)) {
      cmd.setOptionValue('database', DEFAULT_DATABASE);
      return load(cmd);
    }
    throw err;
  }
}

export function registerDemoCommands(program: Command, load: LoadConfig): void {
  const demo = program.command('demo').description('sample e-commerce schema, data and live workload');

  demo
    .command('schema')
    .description('create the demo tables (customers, products, orders, order_items)')
    .option('--database <name>', `database (default: source.database, else ${DEFAULT_DATABASE})`)
    .option('--reset', 'drop the demo tables first')
    .action(async (opts: { reset?: boolean }, cmd: Command) => {
      const config = demoConfig(cmd, load);
      const conn = await connect({ url: config.source.url, password: config.source.password });
      try {
        await createDemoSchema(conn, config.source.database, { reset: Boolean(opts.reset) });
        process.stdout.write(`demo schema ready in ${config.source.database}\n`);
      } finally {
        await conn.end();
      }
    });

  demo
    .command('seed')
    .description('recreate the demo tables and fill them with deterministic data')
    .option('--database <name>', `database (default: source.database, else ${DEFAULT_DATABASE})`)
    .option('--rows <n>', 'rows in total over the four tables', '100000')
    .option('--seed <n>', 'random seed (same seed, same data)', '1')
    .action(async (opts: { rows: string; seed: string }, cmd: Command) => {
      const config = demoConfig(cmd, load);
      const rows = Number(opts.rows);
      if (!Number.isInteger(rows) || rows < 4)
        throw new Error(`--rows must be an integer ≥ 4, got ${opts.rows}`);
      const conn = await connect({ url: config.source.url, password: config.source.password });
      try {
        const started = Date.now();
        await createDemoSchema(conn, config.source.database, { reset: true });
        const counts = await seedDemo(conn, config.source.database, rows, Number(opts.seed));
        const seconds = (Date.now() - started) / 1000;
        process.stdout.write(
          `seeded ${config.source.database}: ${Object.entries(counts)
            .map(([t, n]) => `${t} ${n}`)
            .join(', ')} in ${seconds.toFixed(1)} s (${Math.round(rows / seconds)} rows/s)\n`,
        );
      } finally {
        await conn.end();
      }
    });

  demo
    .command('workload')
    .description('run mixed inserts/updates/deletes against the demo tables')
    .option('--database <name>', `database (default: source.database, else ${DEFAULT_DATABASE})`)
    .option('--rate <tps>', 'transactions per second (0 = as fast as possible)', '50')
    .option('--connections <n>', 'concurrent connections', '4')
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)')
    .option('--seed <n>', 'random seed', '1')
    .action(
      async (opts: { rate: string; connections: string; duration?: string; seed: string }, cmd: Command) => {
        const config = demoConfig(cmd, load);
        const controller = new AbortController();
        process.once('SIGINT', () => controller.abort());
        process.once('SIGTERM', () => controller.abort());
        const stats = await runWorkload({
          target: { url: config.source.url, password: config.source.password },
          database: config.source.database,
          ratePerSecond: Number(opts.rate),
          connections: Number(opts.connections),
          durationMs: opts.duration ? Number(opts.duration) * 1000 : undefined,
          signal: controller.signal,
          seed: Number(opts.seed),
        });
        process.stdout.write(`${JSON.stringify(stats)}\n`);
      },
    );
}
