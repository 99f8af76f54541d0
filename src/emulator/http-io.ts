import type { IncomingMessage, ServerResponse } from 'node:http';

export const BODY_LIMIT_BYTES = 64 * 1024;
/**
 * An oversized body is read on and thrown away, so the client sees the answer instead of a reset
 * connection while it is still sending; past this much the connection is cut.
 */
const DRAIN_LIMIT_BYTES = 16 * BODY_LIMIT_BYTES;

/** The body as text, or undefined when it is larger than BODY_LIMIT_BYTES. Rejects if the client goes away. */
export function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > DRAIN_LIMIT_BYTES) {
        req.destroy();
      } else if (size > BODY_LIMIT_BYTES) {
        chunks.length = 0;
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      settled = true;
      resolve(size > BODY_LIMIT_BYTES ? undefined : Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (error) => {
      settled = true;
      reject(error);
    });
    req.on('close', () => {
      if (!settled) reject(new Error('The client went away before the body ended.'));
    });
  });
}

export function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  // A 'slow' answer may find its client gone.
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(body);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers?: Record<string, string>,
): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), headers);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status);
  res.end();
}

/** JSON text → a value; undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
