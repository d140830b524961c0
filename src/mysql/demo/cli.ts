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

/**
 * Flags of a demo subcommand. The parent `demo` command (the whole demo) declares options of the
 * same names, and commander hands a flag to the parent when both know it, so read the merged
 * values and fall back to this subcommand's own defaults.
 */
function demoFlags<T extends Record<string, string>>(cmd: Command, defaults: T): T & { duration?: string } {
  const out: Record<string, string | undefined> = { ...defaults };
  for (const key of [...Object.keys(defaults), 'duration']) {
    const local = cmd.getOptionValue(key) as string | undefined;
    // The parent's own defaults (for the whole demo) are not this subcommand's defaults.
    const parentGiven =
      cmd.parent && cmd.parent.getOptionValueSource(key) !== 'default'
        ? (cmd.parent.getOptionValue(key) as string | undefined)
        : undefined;
    out[key] = local ?? parentGiven ?? out[key];
  }
  return out as T & { duration?: string };
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
    .option('--rows <n>', 'rows in total over the four tables (default 100000)')
    .option('--seed <n>', 'random seed: same seed, same data (default 1)')
    .action(async (_opts, cmd: Command) => {
      const opts = demoFlags(cmd, { rows: '100000', seed: '1' });
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
    .option('--rate <tps>', 'transactions per second, 0 = as fast as possible (default 50)')
    .option('--connections <n>', 'concurrent connections (default 4)')
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)')
    .option('--seed <n>', 'random seed (default 1)')
    .action(async (_opts, cmd: Command) => {
      const opts = demoFlags(cmd, { rate: '50', connections: '4', seed: '1' });
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
    });
}
