// Where a pipeline's Spark job keeps its files in the state folder, and the job as resolved from
// the config: shared by `run`, `status` and the benches.
import { join, resolve } from 'node:path';
import type { Config } from '../config/load.ts';
import { fileSafeName } from '../model/file-names.ts';
import type { TableSchema } from '../model/types.ts';
import type { JobDescription } from './job-description.ts';

export interface ResolvedPipeline {
  tables: TableSchema[];
  job: JobDescription;
  /** Env for the Spark child: the sink URLs with their secrets. Never log it. */
  sparkEnv: NodeJS.ProcessEnv;
}

/** The pipeline's name: Spark's query name and the stem of its files in the state folder. */
export function pipelineName(config: Config): string {
  return fileSafeName(`${config.source.name}-${config.source.database}`);
}

export function progressFile(config: Config): string {
  return join(resolve(config.stateDir), 'spark', `${pipelineName(config)}.progress.jsonl`);
}
