// `syncline spark`: run the Spark job locally (child process, progress on the terminal and in the
// progress file `status` reads), or print / run the spark-submit line for a cluster.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { configFromCommand } from '../capture/cli.ts';
import { connectSource } from '../mysql/connect.ts';
import { resolvePipeline } from '../pipeline/job.ts';
import { acquirePipelineLock } from '../pipeline/lock.ts';
import type { JobDescription } from '../spark/job-description.ts';
import {
  checkJobDescription,
  ensureClusterJar,
  formatProgress,
  localCommand,
  shellLine,
  startJob,
  submitCommand,
  writeJobFile,
  type Command as Cmd,
} from '../spark/launcher.ts';

interface SparkFlags {
  printJob?: boolean;
  printSubmit?: boolean;
  master?: string;
  job?: string;
  once?: boolean;
  check?: boolean;
  json?: boolean;
}

async function jobAndEnv(
  cmd: Command,
  flags: SparkFlags,
): Promise<{ job: JobDescription; env: NodeJS.ProcessEnv; stateDir: string }> {
  const globals = cmd.optsWithGlobals() as { stateDir?: string };
  if (flags.job) {
    // A hand-written or saved description: connection URLs come from the caller's environment.
    const job = JSON.parse(readFileSync(flags.job, 'utf8')) as JobDescription;
    return { job, env: { ...process.env }, stateDir: resolve(globals.stateDir ?? '.syncline') };
  }
  const config = configFromCommand(cmd);
  const conn = await connectSource(config);
  try {
    const resolved = await resolvePipeline(config, conn, flags.once ? { availableNow: true } : {});
    return { job: resolved.job, env: resolved.sparkEnv, stateDir: config.stateDir };
  } finally {
    await conn.end();
  }
}

export function registerSparkCommands(program: Command): void {
  program
    .command('spark')
    .description('run the Spark job (local mode by default), or submit it to a Spark cluster')
    .option('--database <name>', 'source database (overrides source.database)')
    .option('--print-job', 'print the job description (JSON) and exit')
    .option(
      '--print-submit',
      'print the spark-submit command for --master (default: the configured master) and exit',
    )
    .option(
      '--master <url>',
      'Spark master: local[N] runs in this process tree; spark://, yarn, k8s:// submit the cluster jar',
    )
    .option('--job <file>', 'use this job description instead of building one from the config')
    .option('--once', 'process what Kafka holds now, then exit (Trigger.AvailableNow)')
    .option('--check', 'only check the job description with Spark (expressions, columns) and exit')
    .option('--json', 'print progress as JSON lines instead of a summary per batch')
    .action(async (flags: SparkFlags, cmd: Command) => {
      const { job, env, stateDir } = await jobAndEnv(cmd, flags);
      if (flags.master) job.master = flags.master;
      if (flags.once) job.availableNow = true;
      if (flags.printJob) {
        process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
        return;
      }
      const jobFile = writeJobFile(job, join(stateDir, 'spark', `${job.name}.job.json`));
      const master = job.master ?? 'local[2]';
      const local = master.startsWith('local');
      if (flags.printSubmit) {
        process.stdout.write(
          `${shellLine(submitCommand(jobFile, local ? 'spark://HOST:7077' : master, {}, { stateDir }))}\n`,
        );
        if (local)
          process.stderr.write(
            '(no cluster master configured: pass --master spark://host:7077 or similar)\n',
          );
        return;
      }
      if (flags.check) {
        const problems = checkJobDescription(jobFile);
        if (problems.length > 0) {
          throw new Error(
            `the job description has invalid expressions:\n${problems.map((p) => `  ${p.table} ${p.field}: ${p.message}`).join('\n')}`,
          );
        }
        process.stdout.write('job description OK\n');
        return;
      }
      // One driver per checkpoint: the same lock as `run` (released when this process exits).
      acquirePipelineLock(stateDir, job.name, job.tables[0]?.db ?? job.name, 'spark');
      // No separate check before a run: the job checks every expression itself before it
      // starts and exits with the same messages, which saves a JVM start.
      let command: Cmd;
      if (local) command = localCommand(jobFile);
      else {
        ensureClusterJar();
        command = submitCommand(jobFile, master, {}, { stateDir });
      }
      process.stderr.write(
        `syncline spark: ${job.tables.length} table(s), master ${master}, checkpoints in ${job.checkpointLocation}\n`,
      );
      const running = startJob(
        command,
        { SPARK_LOCAL_IP: '127.0.0.1', ...env },
        {
          onProgress: (p) =>
            process.stdout.write(flags.json ? `${JSON.stringify(p)}\n` : `${formatProgress(p)}\n`),
          onLog: (line, stream) => (stream === 'stderr' ? process.stderr : process.stdout).write(`${line}\n`),
        },
      );
      const forward = (signal: NodeJS.Signals) => () => running.child.kill(signal);
      process.once('SIGINT', forward('SIGTERM'));
      process.once('SIGTERM', forward('SIGTERM'));
      const code = await running.exited.catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' && !local) {
          throw new Error(
            `spark-submit was not found on PATH: install Spark (its bin/ folder on PATH), or print the command with --print-submit and run it where Spark is`,
          );
        }
        throw err;
      });
      process.exitCode = code ?? 1;
    });
}
