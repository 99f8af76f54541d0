/**
 * Rewrites README.md's generated tables, each between its `<!-- name:start -->` and `<!-- name:end -->`
 * lines: the settings from src/config/schema.ts, the Redis layout from src/store/keys.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderSettingsTable } from '../src/config/index.js';
import { APP_KEY_LAYOUT, renderKeyLayoutTable, USER_KEY_LAYOUT } from '../src/store/keys.js';

const tables: Record<string, string> = {
  settings: renderSettingsTable(),
  'redis-user-keys': renderKeyLayoutTable(USER_KEY_LAYOUT),
  'redis-app-keys': renderKeyLayoutTable(APP_KEY_LAYOUT),
};

const file = new URL('../README.md', import.meta.url);
let readme = readFileSync(file, 'utf8');
for (const [name, table] of Object.entries(tables)) {
  const section = new RegExp(`(<!-- ${name}:start -->\n)[\\s\\S]*?(\n<!-- ${name}:end -->)`);
  // A lost marker would otherwise leave the table stale without a word.
  if (!section.test(readme)) throw new Error(`README.md has no ${name}:start/end markers`);
  readme = readme.replace(section, (_all, start: string, end: string) => `${start}${table}${end}`);
}
writeFileSync(file, readme);
process.stdout.write(`README.md tables updated: ${Object.keys(tables).join(', ')}\n`);
