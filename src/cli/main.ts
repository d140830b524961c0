import { Command } from 'commander';
import { registerStackCommands } from '../stack/cli.ts';
import { registerCaptureCommands } from '../capture/cli.ts';
import { redact } from '../config/redact.ts';
import { registerMainCommands, registerPipelineCommands } from './pipeline.ts';
import { registerSparkCommands } from './spark.ts';
import { registerDlqCommands } from '../kafka/dlq.ts';
import { registerShowCommand } from './show.ts';

// Each pipeline area registers its own commands; this file only wires them together.
const program = new Command();
program
  .name('syncline')
  .description('Keep MongoDB and Redis in sync with MySQL, in real time, and prove it.')
  .option('--state-dir <dir>', 'folder for the local stack and pipeline state', '.syncline')
  .option('--config <file>', 'configuration file (default: syncline.yaml if present)')
  .showHelpAfterError();

registerStackCommands(program);
registerCaptureCommands(program);
registerPipelineCommands(program);
registerMainCommands(program);
registerSparkCommands(program);
registerDlqCommands(program);
registerShowCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`syncline: ${redact(message)}\n`);
  process.exitCode = 1;
});
