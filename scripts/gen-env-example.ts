/** Writes .env.example from the settings table (src/config/schema.ts). A test fails when it is stale. */
import { writeFileSync } from 'node:fs';
import { renderEnvExample } from '../src/config/index.js';

writeFileSync(new URL('../.env.example', import.meta.url), renderEnvExample());
process.stdout.write('wrote .env.example\n');
