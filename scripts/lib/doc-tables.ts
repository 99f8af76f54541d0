/**
 * The tables the guides in docs/ hold but nobody writes by hand: which guide holds each one, between its
 * `<!-- name:start -->` and `<!-- name:end -->` lines. `npm run env-example` writes them
 * (scripts/gen-doc-tables.ts) and the tests compare them with what generates them.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export const GENERATED_TABLES = {
  settings: 'docs/configuration.md',
  'redis-user-keys': 'docs/operations.md',
  'redis-person-keys': 'docs/operations.md',
  'redis-app-keys': 'docs/operations.md',
  routes: 'docs/http-reference.md',
  'answer-shapes': 'docs/http-reference.md',
  'admin-routes': 'docs/http-reference.md',
} as const;

export type GeneratedTable = keyof typeof GENERATED_TABLES;

function guide(name: GeneratedTable): URL {
  return new URL(`../../${GENERATED_TABLES[name]}`, import.meta.url);
}

function section(name: GeneratedTable): RegExp {
  return new RegExp(`(<!-- ${name}:start -->\n)([\\s\\S]*?)(\n<!-- ${name}:end -->)`);
}

/** The table as its guide holds it; undefined when the markers are gone. */
export function readGeneratedTable(name: GeneratedTable): string | undefined {
  return section(name).exec(readFileSync(guide(name), 'utf8'))?.[2];
}

/** Puts `table` between the markers in its guide. */
export function writeGeneratedTable(name: GeneratedTable, table: string): void {
  const text = readFileSync(guide(name), 'utf8');
  // A lost marker would otherwise leave the table stale without a word.
  if (!section(name).test(text))
    throw new Error(`${GENERATED_TABLES[name]} has no ${name}:start/end markers`);
  writeFileSync(
    guide(name),
    text.replace(
      section(name),
      (_all, start: string, _table: string, end: string) => `${start}${table}${end}`,
    ),
  );
}
