// The JSON Schema of syncline.yaml, generated from the zod schema so the two cannot disagree.
// Editors pick it up with `# yaml-language-server: $schema=schema/syncline.schema.json`.
import { z } from 'zod';
import { configSchema } from './schema.ts';

export const SCHEMA_FILE = 'schema/syncline.schema.json';

export function configJsonSchema(): Record<string, unknown> {
  // io: 'input' describes what a user writes (defaults make keys optional), not the parsed result.
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return { ...schema, $id: 'https://syncline.dev/schema/syncline.schema.json', title: 'syncline.yaml' };
}

export function renderConfigSchema(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
