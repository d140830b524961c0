// The configuration reference in README.md is generated from the JSON Schema; a schema change
// without regenerating the README would leave users reading a wrong reference.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readmeWithReference } from '../../scripts/config-reference.ts';
import { PROJECT_ROOT } from '../../src/stack/jvm.ts';

test('the README configuration reference matches schema/syncline.schema.json', () => {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
  assert.equal(readme, readmeWithReference(readme), 'run: npx tsx scripts/config-reference.ts');
  assert.match(readme, /\| `sinks\.redis\.format` \|/);
});
