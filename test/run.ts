/**
 * `npm test`: one local stack for the whole run, the TypeScript suites with node's test runner,
 * the JVM suites with Maven, then one closing line with the totals of both.
 *
 *   npm test                      everything except the long chaos and cluster suites
 *   npm run test:cluster          only test/cluster (Spark standalone cluster, 3 Kafka brokers)
 *   SYNCLINE_TEST_CLUSTER=1 npm test   everything except the long chaos suite
 *   npm test -- --only unit       only test/unit (no stack needed)
 *   npm test -- --only integration,jvm
 *   npm test -- relay             only files whose path contains "relay" (plus no JVM suite)
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PROJECT_ROOT, JVM_DIR } from '../src/stack/jvm.ts';
import { resolveStackOptions } from '../src/stack/options.ts';
import { stackDown, stackUp } from '../src/stack/stack.ts';
import type { ServiceName } from '../src/stack/types.ts';
import { TEST_STATE_DIR_ENV } from './support/stack.ts';

const SUITES = ['unit', 'integration', 'e2e', 'cluster', 'chaos', 'jvm'] as const;
type Suite = (typeof SUITES)[number];
// The full chaos suite is `npm run test:chaos`; its small round lives under e2e/. The cluster
// suite (2 Spark workers, 3 Kafka brokers, ~5 min) is `npm run test:cluster`, or part of npm test
// with SYNCLINE_TEST_CLUSTER=1: long cluster runs stay out of the default run, which CI bounds.
const DEFAULT_SUITES: Suite[] = [
  'unit',
  'integration',
  'e2e',
  ...(process.env.SYNCLINE_TEST_CLUSTER === '1' ? (['cluster'] as const) : []),
  'jvm',
];

function parseArgs(argv: string[]): { suites: Suite[]; filters: string[] } {
  let suites: Suite[] | null = null;
  const filters: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--only') {
      const list = (argv[++i] ?? '').split(',').filter(Boolean);
      for (const s of list) {
        if (!(SUITES as readonly string[]).includes(s)) {
          console.error(`test/run: unknown suite "${s}"; choose from ${SUITES.join(', ')}`);
          process.exit(2);
        }
      }
      suites = list as Suite[];
    } else filters.push(arg);
  }
  // A filter names the files it wants: the cluster suite's count too, left out by default or not.
  if (suites === null)
    suites = filters.length > 0 ? (['unit', 'integration', 'e2e', 'cluster'] as Suite[]) : DEFAULT_SUITES;
  return { suites, filters };
}

function testFiles(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .flatMap((e) =>
      e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
    )
    .sort();
}

interface Totals {
  passed: number;
  failed: number;
  skipped: number;
}

/** Runs a command, echoing its output, and hands every line to `onLine`. */
function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  onLine: (line: string) => void,
): Promise<number> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        (stream === child.stdout ? process.stdout : process.stderr).write(text);
        buffered += text;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        lines.forEach(onLine);
      });
      stream.on('end', () => buffered && onLine(buffered));
    }
    child.on('close', (code) => resolvePromise(code ?? 1));
  });
}

async function main(): Promise<void> {
  const { suites, filters } = parseArgs(process.argv.slice(2));
  const files = suites
    .filter((s) => s !== 'jvm')
    .flatMap((s) => testFiles(join(PROJECT_ROOT, 'test', s)))
    .filter((f) => filters.length === 0 || filters.some((flt) => relative(PROJECT_ROOT, f).includes(flt)));
  const needsStack = files.some((f) => !relative(PROJECT_ROOT, f).startsWith(join('test', 'unit')));
  const totals: Totals = { passed: 0, failed: 0, skipped: 0 };
  let exitCode = 0;

  const stateDir = process.env.SYNCLINE_TEST_STATE_DIR ?? join(PROJECT_ROOT, '.syncline');
  let started: ServiceName[] = [];
  const env = { ...process.env, [TEST_STATE_DIR_ENV]: stateDir };

  if (needsStack) {
    const t0 = Date.now();
    console.log(`test/run: bringing the local stack up in ${relative(PROJECT_ROOT, stateDir) || '.'}`);
    const up = await stackUp(resolveStackOptions({ stateDir }), (line) => console.log(`stack: ${line}`));
    started = up.started;
    console.log(
      `test/run: stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (started: ${started.join(', ') || 'none, reused'})`,
    );
  }

  try {
    if (suites.includes('jvm')) {
      // Surefire prints "Tests run: N, Failures: F, Errors: E, Skipped: S" per class (with the time
      // elapsed) and once per module in total (without): the module totals are added up. Keeping
      // only the last one counted the Spark job's tests and dropped the stand-in's.
      let modules: Totals | null = null;
      const code = await run('mvn', ['-B', '-ntp', '-f', join(JVM_DIR, 'pom.xml'), 'test'], env, (line) => {
        const m = /Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)(?!.*Time elapsed)/.exec(
          line,
        );
        if (m) {
          const sum: Totals = modules ?? { passed: 0, failed: 0, skipped: 0 };
          sum.passed += +m[1]! - +m[2]! - +m[3]! - +m[4]!;
          sum.failed += +m[2]! + +m[3]!;
          sum.skipped += +m[4]!;
          modules = sum;
        }
      });
      const jvm: Totals = modules ?? { passed: 0, failed: code === 0 ? 0 : 1, skipped: 0 };
      if (code !== 0 && jvm.failed === 0) jvm.failed = 1; // a build failure is a failure
      totals.passed += jvm.passed;
      totals.failed += jvm.failed;
      totals.skipped += jvm.skipped;
      if (code !== 0) exitCode = 1;
    }

    if (files.length > 0) {
      const node: Totals = { passed: 0, failed: 0, skipped: 0 };
      const code = await run(
        process.execPath,
        ['--import', 'tsx', '--test', '--test-reporter=spec', ...files],
        env,
        (line) => {
          const m = /^ℹ (pass|fail|skipped|todo) (\d+)$/.exec(line.trim());
          if (m?.[1] === 'pass') node.passed = +m[2]!;
          else if (m?.[1] === 'fail') node.failed = +m[2]!;
          else if (m?.[1] === 'skipped' || m?.[1] === 'todo') node.skipped += +m[2]!;
        },
      );
      if (code !== 0 && node.failed === 0) node.failed = 1;
      totals.passed += node.passed;
      totals.failed += node.failed;
      totals.skipped += node.skipped;
      if (code !== 0) exitCode = 1;
    }
  } finally {
    if (started.length > 0 && process.env.SYNCLINE_KEEP_STACK !== '1') {
      console.log(`test/run: stopping what this run started: ${started.join(', ')}`);
      await stackDown(resolveStackOptions({ stateDir, only: started.join(',') }));
    }
  }

  console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
  process.exit(exitCode);
}

await main();
