import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  utimesSync,
  writeFileSync,
  type Dirent,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StackError } from './errors.ts';

/** The repository (or installed package) root: src/stack/ and dist/stack/ are both two levels down. */
export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const JVM_DIR = join(PROJECT_ROOT, 'jvm');

export type JvmModule = 'mongo-standin' | 'kafka-runtime' | 'spark-job' | 'spark-runtime';

function moduleFiles(module: JvmModule): { classpathFile: string; jar: string; pom: string } {
  const dir = join(JVM_DIR, module);
  return {
    classpathFile: join(dir, 'target', 'classpath.txt'),
    jar: join(dir, 'target', `${module}.jar`),
    pom: join(dir, 'pom.xml'),
  };
}

function isBuilt(module: JvmModule): boolean {
  const { classpathFile, jar, pom } = moduleFiles(module);
  if (!existsSync(classpathFile) || !existsSync(jar)) return false;
  // A pom edited after the build means the dependency list may have changed; a source edited
  // after it means the jar is stale (a checkout of another commit, a developer's change).
  const built = Math.min(statSync(classpathFile).mtimeMs, statSync(jar).mtimeMs);
  return (
    built >= statSync(pom).mtimeMs &&
    built >= statSync(join(JVM_DIR, 'pom.xml')).mtimeMs &&
    built >= newestMtime(join(dirname(pom), 'src', 'main'))
  );
}

/** The newest modification time of any file under dir (0 when missing). */
export function newestMtime(dir: string): number {
  let newest = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Builds the given JVM modules with Maven when they are not built yet. The first run downloads
 * dependencies from Maven Central (minutes); later runs reuse ~/.m2 and return at once.
 */
export function ensureJvmModules(modules: JvmModule[], log: (line: string) => void = () => {}): void {
  const todo = modules.filter((m) => !isBuilt(m));
  if (todo.length === 0) return;
  log(`building JVM module(s) ${todo.join(', ')} with Maven (first run downloads dependencies)`);
  const result = spawnSync(
    'mvn',
    [
      '-B',
      '-q',
      '-ntp',
      '-f',
      join(JVM_DIR, 'pom.xml'),
      '-pl',
      todo.join(','),
      '-am',
      '-DskipTests',
      'package',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.error) {
    throw new StackError(
      'STACK_JVM_BUILD_FAILED',
      `could not run Maven (${result.error.message}). To fix: install Java 17+ and Maven 3.8+ (apt-get install -y openjdk-17-jdk-headless maven).`,
    );
  }
  if (result.status !== 0) {
    const out = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-30).join('\n');
    throw new StackError('STACK_JVM_BUILD_FAILED', `Maven build of ${todo.join(', ')} failed:\n${out}`);
  }
  // Maven leaves a file it would write unchanged with its old time (a pom edit that keeps the
  // classpath, a comment-only source edit): without this every later start would build again.
  const now = new Date();
  for (const m of todo) {
    const { classpathFile, jar } = moduleFiles(m);
    for (const f of [classpathFile, jar]) if (existsSync(f)) utimesSync(f, now, now);
  }
}

/**
 * `java -cp` argument for a built module: its dependencies plus its own jar. With `pinned`, the
 * jar is a copy named by its content, so a rebuild (`npm run build:jvm`, a developer's `mvn
 * package`) while the JVM runs cannot swap classes under it: a long-running JVM that meets a
 * rewritten jar fails every later class load.
 */
export function jvmClasspath(module: JvmModule, options: { pinned?: boolean } = {}): string {
  const { classpathFile, jar } = moduleFiles(module);
  const deps = readFileSync(classpathFile, 'utf8').trim();
  const own = options.pinned ? pinnedCopy(jar, module) : jar;
  return deps ? `${deps}:${own}` : own;
}

function pinnedCopy(jar: string, module: JvmModule): string {
  const bytes = readFileSync(jar);
  const dir = join(tmpdir(), 'syncline-jvm');
  const copy = join(dir, `${module}-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.jar`);
  if (!existsSync(copy)) {
    mkdirSync(dir, { recursive: true });
    // Written under a temporary name first: a JVM must never open a half-written copy.
    const tmp = `${copy}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, copy);
  }
  return copy;
}

export function javaBinary(): string {
  const home = process.env.JAVA_HOME;
  return home ? join(home, 'bin', 'java') : 'java';
}
