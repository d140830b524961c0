import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StackError } from './errors.ts';

/** The repository (or installed package) root: src/stack/ and dist/stack/ are both two levels down. */
export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const JVM_DIR = join(PROJECT_ROOT, 'jvm');

export type JvmModule = 'mongo-standin' | 'kafka-runtime' | 'spark-job';

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
  // A pom edited after the build means the dependency list may have changed.
  return (
    statSync(classpathFile).mtimeMs >= statSync(pom).mtimeMs &&
    statSync(classpathFile).mtimeMs >= statSync(join(JVM_DIR, 'pom.xml')).mtimeMs
  );
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
}

/** `java -cp` argument for a built module: its dependencies plus its own jar. */
export function jvmClasspath(module: JvmModule): string {
  const { classpathFile, jar } = moduleFiles(module);
  const deps = readFileSync(classpathFile, 'utf8').trim();
  return deps ? `${deps}:${jar}` : jar;
}

export function javaBinary(): string {
  const home = process.env.JAVA_HOME;
  return home ? join(home, 'bin', 'java') : 'java';
}
