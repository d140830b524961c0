import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { StackError } from './errors.ts';

// Debian puts server binaries in sbin, which is not on every user's PATH.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** Absolute path of an executable, or null. */
export function findBinary(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_DIRS];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

function isDebianLike(): boolean {
  try {
    const osRelease = readFileSync('/etc/os-release', 'utf8');
    return /^ID(_LIKE)?=.*\b(debian|ubuntu)\b/m.test(osRelease) && findBinary('apt-get') !== null;
  } catch {
    return false;
  }
}

let aptUpdated = false;

/**
 * Makes sure the binaries exist. When one is missing and we are root on a Debian-like system, the
 * Debian packages are installed; otherwise the error says exactly what to install.
 */
export function ensureBinaries(need: { binaries: string[]; packages: string[]; service: string }): void {
  const missing = need.binaries.filter((b) => findBinary(b) === null);
  if (missing.length === 0) return;
  const installHint = `install the Debian/Ubuntu packages (sudo apt-get install -y ${need.packages.join(' ')}) or your platform's equivalent, so that ${missing.join(', ')} is on PATH`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !isDebianLike()) {
    throw new StackError(
      'STACK_BINARY_MISSING',
      `${need.service}: ${missing.join(', ')} not found. To fix: ${installHint}; or point syncline at an existing ${need.service} by URL.`,
    );
  }
  process.stderr.write(
    `stack: ${need.service}: installing ${need.packages.join(' ')} with apt-get (one time)\n`,
  );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    const update = spawnSync('apt-get', ['update', '-q'], { env, encoding: 'utf8' });
    if (update.status !== 0) {
      throw new StackError(
        'STACK_INSTALL_FAILED',
        `apt-get update failed: ${update.stderr.trim().slice(-500)}`,
      );
    }
    aptUpdated = true;
  }
  const install = spawnSync(
    'apt-get',
    ['install', '-y', '-q', '--no-install-recommends', ...need.packages],
    // policy-rc.d on build machines stops the package from starting a system-wide server; we
    // start our own private instance anyway.
    { env, encoding: 'utf8' },
  );
  const still = need.binaries.filter((b) => findBinary(b) === null);
  if (install.status !== 0 || still.length > 0) {
    throw new StackError(
      'STACK_INSTALL_FAILED',
      `${need.service}: apt-get install ${need.packages.join(' ')} failed (${install.stderr.trim().slice(-500)}). To fix: ${installHint}.`,
    );
  }
}
