/** Rewrites the settings table between the markers in README.md from src/config/schema.ts. */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderSettingsTable } from '../src/config/index.js';

const file = new URL('../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const updated = readme.replace(
  /(<!-- settings:start -->\n)[\s\S]*?(\n<!-- settings:end -->)/,
  (_all, start: string, end: string) => `${start}${renderSettingsTable()}${end}`,
);
writeFileSync(file, updated);
process.stdout.write('README.md settings table updated\n');
