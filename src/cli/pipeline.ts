// Commands that run the pipeline as a whole: snapshot (and, as they land, run, verify, status).
import type { Command } from 'commander';
import { configFromCommand } from '../capture/cli.ts';
import { runSnapshots } from '../capture/snapshot/run-snapshot.ts';
import { capturedTables, triggerStatus } from '../capture/trigger/install.ts';
import { connect } from '../mysql/connect.ts';

export function registerPipelineCommands(program: Command): void {
  program
    .command('snapshot')
    .description(
      'load existing rows: copy them in primary-key chunks into the change stream as `r` events (resumable)',
    )
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--table <name...>', 'only these tables (default: every captured table)')
    .option('--restart', 'start over from the first key, even for tables already loaded')
    .option('--chunk-size <rows>', 'rows per chunk (one short transaction each)', '5000')
    .option('--json', 'print the summary as JSON')
    .action(
      async (
        opts: { table?: string[]; restart?: boolean; chunkSize: string; json?: boolean },
        cmd: Command,
      ) => {
        const config = configFromCommand(cmd);
        const chunkSize = Number(opts.chunkSize);
        if (!Number.isInteger(chunkSize) || chunkSize < 1)
          throw new Error(`--chunk-size must be a positive integer, got ${opts.chunkSize}`);
        const conn = await connect({
          url: config.source.url,
          password: config.source.password,
          database: config.source.database,
        });
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        process.once('SIGTERM', () => abort.abort());
        try {
          let tables = await capturedTables(conn, config.source.database, config.source.tables);
          if (opts.table) {
            const unknown = opts.table.filter((t) => !tables.some((s) => s.name === t));
            if (unknown.length > 0) {
              throw new Error(
                `--table: ${unknown.join(', ')} is not a captured table of ${config.source.database} (captured: ${tables.map((t) => t.name).join(', ')})`,
              );
            }
            tables = tables.filter((t) => opts.table!.includes(t.name));
          }
          const statuses = await triggerStatus(conn, tables);
          const missing = statuses.filter((s) => !s.installed || s.drift).map((s) => s.table);
          if (missing.length > 0) {
            // Without current triggers, changes made during the snapshot would not be captured.
            throw new Error(
              `capture triggers are missing or out of date for ${missing.join(', ')}. To fix: run \`syncline triggers install\` first (or use \`syncline run\`, which does both).`,
            );
          }
          const summaries = await runSnapshots(conn, tables, {
            restart: Boolean(opts.restart),
            chunkSize,
            signal: abort.signal,
          });
          if (opts.json) process.stdout.write(`${JSON.stringify(summaries, null, 2)}\n`);
          else
            for (const s of summaries) {
              process.stdout.write(
                `${s.table}: ${s.rows.toLocaleString('en-US')} rows${s.resumedFrom > 0 ? ` (resumed after ${s.resumedFrom.toLocaleString('en-US')})` : ''} in ${s.seconds.toFixed(1)} s, ${Math.round(s.rowsPerSecond).toLocaleString('en-US')} rows/s\n`,
              );
            }
          if (abort.signal.aborted) {
            process.stderr.write(
              'snapshot interrupted; run it again to continue after the last finished chunk\n',
            );
            process.exitCode = 130;
          }
        } finally {
          await conn.end();
        }
      },
    );
}
