// `syncline init`: a starter syncline.yaml listing the database's tables, with the per-table
// settings commented so a user sees what can be set without reading the docs first.
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { TableSchema } from '../model/types.ts';
import { PROJECT_ROOT } from '../stack/jvm.ts';
import { SCHEMA_FILE } from './json-schema.ts';

/**
 * The schema as installed with this copy of syncline. An absolute path, because the config is
 * written into the user's own folder, where a path relative to the checkout points nowhere; YAML
 * language servers take absolute paths in the modeline.
 */
export const INSTALLED_SCHEMA = join(PROJECT_ROOT, SCHEMA_FILE);

export function starterConfig(
  database: string,
  tables: TableSchema[],
  schemaPath: string = INSTALLED_SCHEMA,
): string {
  const captured = tables.filter((t) => t.primaryKey.length > 0);
  const skipped = tables.filter((t) => t.primaryKey.length === 0);
  const body = {
    source: {
      database,
      tables: captured.map((t) => t.name),
      capture: 'trigger',
    },
    kafka: { topicPrefix: 'syncline', partitions: 3 },
    sinks: { mongodb: { database }, redis: { format: 'hash' } },
    tables: Object.fromEntries(captured.map((t) => [t.name, { mongodb: { collection: t.name } }])),
  };
  const lines = [
    `# yaml-language-server: $schema=${schemaPath}`,
    `# syncline configuration for ${database}, written by \`syncline init\`.`,
    '# URLs default to the local stack (syncline stack up). For real services set e.g.',
    '#   source.url: mysql://syncline@db.example:3306  and  source.password: ${MYSQL_PASSWORD}',
    '# Secrets are never written here: use ${ENV_NAME} references or *File paths.',
  ];
  if (skipped.length > 0)
    lines.push(`# Not captured (no primary key): ${skipped.map((t) => t.name).join(', ')}`);
  lines.push('', stringify(body, { lineWidth: 120 }).trimEnd());
  lines.push(
    '',
    '# Per-table settings (see docs/capture.md and the README):',
    '#   tables:',
    '#     customers:',
    '#       validate: [{ name: email_format, expr: "email RLIKE \'^[^@]+@[^@]+$\'", message: bad email }]',
    '#       transform: { exclude: [password_hash], fields: { full_name: "concat(first_name, \' \', last_name)" } }',
    '#       redis: { key: "customer:{id}", format: json, ttl: 3600 }',
    '',
  );
  return lines.join('\n');
}
