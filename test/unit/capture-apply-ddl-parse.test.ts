// `syncline ddl` reads just enough of the statement to know which table it alters, and refuses
// what it must not run: several statements, other statement kinds, table renames, hidden SQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DdlRefusedError, parseAlterTable } from '../../src/capture/trigger/apply-ddl.ts';

test('the altered table is found with or without a database, quoted or not', () => {
  assert.deepEqual(parseAlterTable('ALTER TABLE notes RENAME COLUMN b TO b2'), {
    database: null,
    table: 'notes',
  });
  assert.deepEqual(parseAlterTable('alter table `shop`.`order items` drop column x;'), {
    database: 'shop',
    table: 'order items',
  });
  assert.deepEqual(parseAlterTable('ALTER ONLINE IGNORE TABLE IF EXISTS shop . t ADD c INT'), {
    database: 'shop',
    table: 't',
  });
  assert.deepEqual(parseAlterTable('/* deploy 42 */ ALTER -- why\n TABLE # more\n tëst_表 ADD c INT'), {
    database: null,
    table: 'tëst_表',
  });
});

test('hostile names are read exactly: doubled backticks, quotes, semicolons and reserved words', () => {
  assert.deepEqual(parseAlterTable('ALTER TABLE `we``ird; DROP TABLE x`.`select` ADD c INT'), {
    database: 'we`ird; DROP TABLE x',
    table: 'select',
  });
  assert.deepEqual(parseAlterTable('ALTER TABLE "a""b" ADD c INT', { ansiQuotes: true }), {
    database: null,
    table: 'a"b',
  });
});

test('a semicolon, keyword or RENAME inside a string, comment or quoted name is not syntax', () => {
  const target = parseAlterTable(
    "ALTER TABLE t ADD c VARCHAR(9) DEFAULT 'x;y RENAME TO z' COMMENT 'it\\'s; fine' /* ; */, ADD `rename` INT",
  );
  assert.deepEqual(target, { database: null, table: 't' });
  // Under NO_BACKSLASH_ESCAPES the backslash does not escape, so the string ends at the first quote.
  assert.deepEqual(parseAlterTable("ALTER TABLE t ADD c INT COMMENT 'a\\'", { noBackslashEscapes: true }), {
    database: null,
    table: 't',
  });
});

function refused(sql: string, pattern: RegExp): void {
  assert.throws(
    () => parseAlterTable(sql),
    (err: unknown) => err instanceof DdlRefusedError && pattern.test(err.message),
    sql,
  );
}

test('more than one statement is refused, whatever hides the second one', () => {
  refused('ALTER TABLE t ADD c INT; DROP TABLE t', /more than one statement/);
  refused('ALTER TABLE t ADD c INT;;', /more than one statement/);
  refused('ALTER TABLE t ADD c INT /*! ; DROP TABLE t */', /executable comments/);
  refused('ALTER TABLE t ADD c INT /*M!100000 , DROP d */', /executable comments/);
});

test('statements other than ALTER TABLE are refused with what to do instead', () => {
  refused('DROP TABLE t', /starts with DROP: run it with your usual MySQL client/);
  refused('CREATE TABLE t (id INT PRIMARY KEY)', /`run` picks up new tables/);
  refused('ALTER VIEW v AS SELECT 1', /this is ALTER VIEW/);
  refused('   ', /empty/);
  refused('ALTER TABLE', /expected the table name/);
  refused('ALTER TABLE t', /no change to make/);
});

test('renaming the table is refused; renaming a column or an index is not', () => {
  refused('ALTER TABLE t RENAME TO t2', /renaming a captured table/);
  refused('ALTER TABLE t ADD c INT, RENAME AS t2', /renaming a captured table/);
  refused('ALTER TABLE t RENAME t2', /renaming a captured table/);
  assert.equal(parseAlterTable('ALTER TABLE t RENAME COLUMN a TO b, RENAME INDEX i TO j').table, 't');
  assert.equal(parseAlterTable('ALTER TABLE t RENAME KEY i TO j').table, 't');
});

test('an unclosed quote or comment is refused instead of guessed at', () => {
  refused('ALTER TABLE `t ADD c INT', /inside a backtick-quoted name/);
  refused("ALTER TABLE t ADD c INT DEFAULT 'x", /inside a quoted string/);
  refused('ALTER TABLE t ADD c INT /* no end', /inside a \/\* comment/);
});
