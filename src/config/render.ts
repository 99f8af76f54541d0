import { SETTINGS } from './schema.js';

/** `.env.example`: every setting, commented out at its default, secrets marked. */
export function renderEnvExample(): string {
  const lines = [
    '# wxauth settings. Generated from src/config/schema.ts by `npm run env-example`: edit that, not this.',
    '# With none of them set, `npm start` runs on embedded defaults (in-memory store, ephemeral key,',
    '# built-in WeChat emulator). NODE_ENV=production takes no default.',
    '',
  ];
  for (const setting of SETTINGS) {
    lines.push(
      `# ${setting.doc}${'secret' in setting && setting.secret ? ' SECRET: never commit a real value.' : ''}`,
    );
    const value = setting.default.startsWith('none') ? '' : setting.default;
    lines.push(`# default: ${setting.default}`, `# ${setting.name}=${value}`);
    if ('alsoExample' in setting) lines.push(`# ${setting.alsoExample}`);
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** The settings table of docs/configuration.md (between its settings markers). */
export function renderSettingsTable(): string {
  const rows = SETTINGS.map((s) => {
    const secret = 'secret' in s && s.secret ? ' (secret)' : '';
    return `| \`${s.name}\`${secret} | ${s.default.startsWith('none') ? s.default : `\`${s.default}\``} | ${s.doc.replaceAll('|', '\\|')} |`;
  });
  return ['| name | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
