/**
 * Rewrites the guides' generated tables (scripts/lib/doc-tables.ts says which guide holds each): the
 * settings from src/config/schema.ts, the Redis layout from src/store/keys.ts, the routes and their
 * answers' shapes from the route declarations (src/http/reference.ts).
 */
import { renderSettingsTable } from '../src/config/index.js';
import { renderAdminRoutesTable, renderAnswerShapesTable, renderRoutesTable } from '../src/http/reference.js';
import {
  APP_KEY_LAYOUT,
  PERSON_KEY_LAYOUT,
  renderKeyLayoutTable,
  USER_KEY_LAYOUT,
} from '../src/store/keys.js';
import { GENERATED_TABLES, type GeneratedTable, writeGeneratedTable } from './lib/doc-tables.js';

const tables: Record<GeneratedTable, string> = {
  settings: renderSettingsTable(),
  'redis-user-keys': renderKeyLayoutTable(USER_KEY_LAYOUT),
  'redis-person-keys': renderKeyLayoutTable(PERSON_KEY_LAYOUT),
  'redis-app-keys': renderKeyLayoutTable(APP_KEY_LAYOUT),
  routes: renderRoutesTable(),
  'answer-shapes': renderAnswerShapesTable(),
  'admin-routes': renderAdminRoutesTable(),
};

for (const [name, table] of Object.entries(tables) as Array<[GeneratedTable, string]>) {
  writeGeneratedTable(name, table);
  process.stdout.write(`${GENERATED_TABLES[name]}: ${name} table updated\n`);
}
