/**
 * Decision 0034: `npm install` on Node 20 is quiet because the project's .npmrc sets
 * loglevel=error, which also hides npm's EBADENGINE warnings. That is only acceptable for the
 * packages reviewed in the decision (their code runs on Node 20; no published version declares
 * it). This test keeps the silence honest: a new dependency that declares a Node this one is not,
 * or a fixed release of a reviewed one, fails here by name instead of disappearing from view.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';

/** Reviewed in docs/decisions/0034: declare Node >= 22.19, verified to work on Node 20. */
const REVIEWED = ['@platformatic/dynamic-buffer', '@platformatic/wasm-utils'];

type Version = [number, number, number];

function version(text: string): { v: Version; parts: number } {
  const nums = text
    .replace(/^v/, '')
    .split('.')
    .filter((p) => p !== '' && p !== 'x' && p !== '*');
  const v = [0, 1, 2].map((i) => Number(nums[i] ?? 0)) as Version;
  return { v, parts: nums.length };
}

function cmp(a: Version, b: Version): number {
  for (let i = 0; i < 3; i += 1) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** npm's range grammar as package engines use it: ||, spaces (AND), >= > <= < = ^ ~, partial versions, *. */
function satisfies(node: string, range: string): boolean {
  const current = version(node).v;
  return range.split('||').some((alternative) => {
    const comparators = alternative
      .trim()
      .replace(/([<>=^~]+)\s+/g, '$1')
      .split(/\s+/)
      .filter(Boolean);
    return comparators.every((c) => {
      if (c === '*' || c === 'x') return true;
      const m = /^(>=|<=|>|<|=|\^|~)?(.+)$/.exec(c)!;
      const { v, parts } = version(m[2]!);
      const op = m[1] ?? '';
      switch (op) {
        case '>=':
          return cmp(current, v) >= 0;
        case '>':
          return cmp(current, v) > 0;
        case '<=':
          return cmp(current, v) <= 0;
        case '<':
          return cmp(current, v) < 0;
        case '^':
          return cmp(current, v) >= 0 && current[0] === v[0];
        case '~':
          return cmp(current, v) >= 0 && current[0] === v[0] && (parts < 2 || current[1] === v[1]);
        default:
          // "20" is 20.x.x, "20.19" is 20.19.x
          return current.slice(0, parts).every((n, i) => n === v[i]);
      }
    });
  });
}

test('the range check reads engines ranges as npm does', () => {
  assert.equal(satisfies('v20.20.2', '>= 22.19.0'), false);
  assert.equal(satisfies('v20.20.2', '>= 20.19.4 || >= 22.18.0 || >= 24.6.0'), true);
  assert.equal(satisfies('v20.20.2', '^18.18.0 || ^20.9.0 || >=21.1.0'), true);
  assert.equal(satisfies('v20.20.2', '^20.19.0 || ^22.13.0 || >=24'), true);
  assert.equal(satisfies('v20.20.2', '18 || 20 || >=22'), true);
  assert.equal(satisfies('v20.20.2', '^16 || ^18'), false);
  assert.equal(satisfies('v20.20.2', '>=20.21'), false);
  assert.equal(satisfies('v20.20.2', '*'), true);
});

test('the only installed packages that declare another Node than this one are the ones decision 0034 reviewed', () => {
  const lock = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
  };
  const ranges = new Map<string, string>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    const range = !Array.isArray(entry.engines) ? entry.engines?.node : undefined;
    if (path && range !== undefined)
      ranges.set(path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length), range);
  }
  const unreviewed = [...ranges]
    .filter(([name, range]) => !REVIEWED.includes(name) && !satisfies(process.version, range))
    .map(([name, range]) => `${name} (node ${range})`);
  assert.deepEqual(
    unreviewed,
    [],
    `npm would warn EBADENGINE for these on ${process.version}, and .npmrc hides it: check that they run on this Node, then add them to docs/decisions/0034 and REVIEWED here`,
  );
  // The README's minimum Node: once a reviewed package declares it, the exception must go.
  for (const name of REVIEWED) {
    const range = ranges.get(name);
    if (range === undefined) continue;
    assert.equal(
      satisfies('20.19.0', range),
      false,
      `${name} now declares node ${range}: remove it from REVIEWED and decision 0034 (and loglevel=error from .npmrc when none is left)`,
    );
  }
});
