import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileSafeName } from '../../src/model/file-names.ts';

test('plain pipeline names stay as they are, so existing checkpoints and logs keep their paths', () => {
  assert.equal(fileSafeName('syncline-shop'), 'syncline-shop');
  assert.equal(fileSafeName('syncline-e2e_ddl_1a_ff00'), 'syncline-e2e_ddl_1a_ff00');
});

test("a database name with '/', '..' or a leading dot cannot leave the state folder", () => {
  for (const name of ['../../etc', 'a/b', '..', '.hidden', 'x\\y', "we'ird.db; DROP TABLE canary; --"])
    assert.doesNotMatch(fileSafeName(name), /[/\\]|^\./, name);
});

test('a 64-character CJK database name becomes a file name under 255 bytes, distinct per name', () => {
  const a = fileSafeName(`syncline-${'数'.repeat(64)}`);
  const b = fileSafeName(`syncline-${'数'.repeat(63)}据`);
  assert.ok(Buffer.byteLength(`${a}.progress.jsonl`) < 255, a);
  assert.notEqual(a, b);
});
