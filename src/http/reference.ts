import { ADMIN_ROUTES } from './admin.js';
import { pathsOf } from './declare.js';
import { openApiDocument } from './openapi.js';

/*
 * The HTTP reference's tables (docs/http-reference.md), written from the OpenAPI document, itself made
 * of the route declarations: the guide holds no shape of its own. scripts/gen-doc-tables.ts writes them;
 * a test compares them with these.
 */

interface Schema {
  $ref?: string;
  properties?: Record<string, Schema>;
  required?: readonly string[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  items?: Schema;
}

interface Operation {
  summary: string;
  description?: string;
  security?: unknown[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Schema }> }>;
}

/** `{"a", "b"?}`: the fields, the optional ones marked. */
function fieldsOf(schema: Schema, within: Schema = schema): string {
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives !== undefined) return alternatives.map((one) => fieldsOf(one, schema)).join(' or ');
  const required = schema.required ?? [];
  // An alternative that only names required fields takes them from the schema around it.
  const names = Object.keys(schema.properties ?? {}).length
    ? Object.keys(schema.properties ?? {})
    : required.filter((name) => name in (within.properties ?? {}));
  return `{${names.map((name) => `"${name}"${required.includes(name) ? '' : '?'}${listOf(schema.properties?.[name])}`).join(', ')}}`;
}

/** `: [{…}]` for a list of objects (the sessions), so the table shows what one holds. */
function listOf(property: Schema | undefined): string {
  return property?.items?.properties === undefined ? '' : `: [${fieldsOf(property.items)}]`;
}

function shapeOf(schema: Schema): string {
  if (schema.$ref !== undefined) return `\`${schema.$ref.split('/').pop()}\``;
  if (schema.properties !== undefined) return `\`${fieldsOf(schema)}\``;
  return '';
}

function authOf(operation: Operation): string {
  if (operation.security !== undefined) return 'Bearer';
  const body = operation.requestBody?.content['application/json']?.schema;
  return body?.properties?.poll_token === undefined ? 'none' : 'the `poll_token`';
}

function bodyOf(operation: Operation): string {
  const content = operation.requestBody?.content;
  const json = content?.['application/json'];
  if (json === undefined) return '—';
  const form = content?.['application/x-www-form-urlencoded'] === undefined ? '' : ', or form-encoded';
  return `\`${fieldsOf(json.schema)}\`${form}`;
}

/** The summary, and the description when there is one. */
function whatOf(operation: Operation): string {
  return operation.description === undefined
    ? operation.summary
    : `${operation.summary}. ${operation.description}`;
}

function answersOf(operation: Operation): string {
  return (
    Object.entries(operation.responses)
      // A redirect is a success of the browser routes (GET /oauth/authorize, /oauth/callback).
      .filter(([status]) => status.startsWith('2') || status.startsWith('3'))
      .map(([status, response]) => {
        const content = Object.entries(response.content ?? {})[0];
        const shape =
          content === undefined
            ? ''
            : content[0] === 'application/json'
              ? shapeOf(content[1].schema)
              : content[0];
        return `${[status, shape].filter((part) => part !== '').join(' ')}: ${response.description}`;
      })
      .join('; ')
  );
}

/** One row a route: a route that answers several methods alike (forward auth) is one row. */
function rowsOf(paths: Record<string, Record<string, Operation>>, cellsOf: (operation: Operation) => string) {
  const rows: string[] = [];
  for (const [path, operations] of Object.entries(paths)) {
    const alike = new Map<string, string[]>();
    for (const [method, operation] of Object.entries(operations)) {
      const cells = cellsOf(operation);
      alike.set(cells, [...(alike.get(cells) ?? []), method.toUpperCase()]);
    }
    for (const [cells, methods] of alike) rows.push(`| \`${methods.join(', ')} ${path}\` | ${cells} |`);
  }
  return rows;
}

export function renderRoutesTable(): string {
  const paths = openApiDocument({ algorithms: ['ES256'] }).paths as Record<string, Record<string, Operation>>;
  const rows = rowsOf(
    paths,
    (operation) =>
      `${authOf(operation)} | ${bodyOf(operation)} | ${answersOf(operation)} | ${whatOf(operation)}`,
  );
  return ['| route | auth | body | success | what |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/** The admin API's routes (every one takes an admin key). */
export function renderAdminRoutesTable(): string {
  const paths = pathsOf(ADMIN_ROUTES) as Record<string, Record<string, Operation>>;
  const rows = rowsOf(
    paths,
    (operation) => `${bodyOf(operation)} | ${answersOf(operation)} | ${whatOf(operation)}`,
  );
  return ['| admin route | body | success | what |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The answers' shapes the routes table names (TokenResponse…), by their fields. */
export function renderAnswerShapesTable(): string {
  const schemas = openApiDocument({ algorithms: ['ES256'] }).components.schemas as Record<string, Schema>;
  const rows = Object.entries(schemas)
    .filter(([name]) => name !== 'OpenData')
    .map(([name, schema]) => `| \`${name}\` | \`${fieldsOf(schema)}\` |`);
  return ['| answer | fields |', '| --- | --- |', ...rows].join('\n');
}
