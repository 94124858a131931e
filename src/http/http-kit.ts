import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { TroupeError } from '../core/errors.js';
import type { Logger } from '../core/log.js';

/** What a handler sees: everything copied out of uWebSockets.js's request before the first await. */
export interface HttpContext {
  method: string;
  route: string;
  url: string;
  query: URLSearchParams;
  params: string[];
  authorization: string;
  ip: string;
  /** Parsed JSON body; undefined when none was sent, and for a route that takes its body raw. */
  body: unknown;
  /** The body as received, for a route registered with `rawBody` (a webhook's signature covers these bytes). */
  rawBody?: Buffer;
  /** The headers a route registered with `headers` asked for, by lower-case name ('' when absent). */
  headers?: Record<string, string>;
}

/** What a route asks for beyond the usual context. */
export interface RouteExtras {
  /** Hand the body over unparsed as `rawBody` (the handler parses it, e.g. after checking a signature). */
  rawBody?: boolean;
  /** Lower-case names of headers to copy into `headers`. */
  headers?: readonly string[];
}

export interface Reply {
  status: number;
  body?: unknown;
  /** A non-JSON body (XML, HTML, Prometheus text). */
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
  /** Close the connection after answering (a 413: the connection is not reused). */
  close?: boolean;
}

export type Handler = (ctx: HttpContext) => Promise<Reply> | Reply;

export interface RouteOptions {
  maxBodyBytes: number;
  logger: Logger;
  /** Called once per answered request (metrics). */
  observe?: (route: string, method: string, status: number, seconds: number) => void;
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'del';

/** `route` bound to an app and options: what route modules register with. */
export type RouteRegistrar = (method: Method, pattern: string, params: number, handler: Handler, extras?: RouteExtras) => void;

const JSON_TYPE = /^application\/json\s*(;|$)/i;

/** The query of a request that has none (handlers only read it). */
const NO_QUERY: URLSearchParams = new URLSearchParams();

const statusLines = new Map<number, string>();

function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = `${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
    statusLines.set(status, line);
  }
  return line;
}

/** Writes a reply in one cork, unless the client went away. */
export function send(res: HttpResponse, reply: Reply, aborted: () => boolean): void {
  if (aborted()) return;
  const payload = reply.text ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
  res.cork(() => {
    res.writeStatus(statusLine(reply.status));
    res.writeHeader('content-type', reply.contentType ?? 'application/json; charset=utf-8');
    for (const [name, value] of Object.entries(reply.headers ?? {})) res.writeHeader(name, value);
    res.end(payload, reply.close === true);
  });
}

export function errorReply(err: unknown, logger: Logger, ctx?: { method: string; url: string }): Reply {
  if (err instanceof TroupeError) {
    const headers = err.code === 'RATE_LIMITED' && typeof err.details === 'object' && err.details !== null
      ? { 'retry-after': String((err.details as { retryAfterSeconds: number }).retryAfterSeconds) }
      : undefined;
    return {
      status: err.status,
      body: err.toJSON(),
      ...(headers ? { headers } : {}),
      ...(err.code === 'PAYLOAD_TOO_LARGE' ? { close: true } : {}),
    };
  }
  logger.error({ err, ...ctx }, 'request failed');
  return { status: 500, body: new TroupeError('INTERNAL').toJSON() };
}

/**
 * How much of an oversized body is read and thrown away before the 413 is sent: a client such as Node's `fetch`
 * reads the answer only once it has sent its whole body, and a connection closed under it fails with EPIPE
 * instead of showing the 413. Discarding costs no memory, only the time to read; beyond this the connection is
 * closed at once, so a client cannot make the server read without end. Eight times the limit, and never less
 * than 64 MiB.
 */
export function drainLimit(limit: number): number {
  return Math.max(8 * limit, 64 * 1024 * 1024);
}

/**
 * Reads the body with the size limit enforced on the declared length and on what actually arrives.
 * An oversized body is refused with PAYLOAD_TOO_LARGE once the client has finished sending it (the rest is read
 * and discarded, up to `drainLimit`), so that every client sees the 413.
 * Must be called synchronously in the route handler: uWebSockets.js delivers data only to a handler
 * registered before the first await.
 */
function readBody(res: HttpResponse, limit: number, declared: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declaredBytes = declared === '' ? null : Number(declared);
    const drain = drainLimit(limit);
    if (declaredBytes !== null && declaredBytes > drain) {
      // Too large to be worth reading: answered at once, and the connection is closed under the sender.
      reject(new TroupeError('PAYLOAD_TOO_LARGE', `the body is ${declared} bytes; the limit is ${limit}`));
      return;
    }
    let tooLarge: TroupeError | null =
      declaredBytes !== null && declaredBytes > limit
        ? new TroupeError('PAYLOAD_TOO_LARGE', `the body is ${declared} bytes; the limit is ${limit}`)
        : null;
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    res.onData((chunk, isLast) => {
      if (settled) return;
      size += chunk.byteLength;
      if (tooLarge === null && size > limit) {
        tooLarge = new TroupeError('PAYLOAD_TOO_LARGE', `the body is larger than the limit of ${limit} bytes`);
        chunks.length = 0;
      }
      if (tooLarge !== null) {
        // Discarded; refused once the client has sent it all, or at once past the drain limit.
        if (isLast || size > drain) {
          settled = true;
          reject(tooLarge);
        }
        return;
      }
      // The chunk's memory is reused after this callback: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) {
        settled = true;
        resolve(Buffer.concat(chunks, size));
      }
    });
  });
}

/**
 * Deepest nesting accepted in a body. Free-form fields (an http step's `body`, `expect.json` values) are not
 * bounded by any schema, and every later JSON.stringify (store row, response, idempotency hash) recurses.
 */
export const MAX_JSON_DEPTH = 128;

/** Whether `raw` nests arrays/objects deeper than `limit` (brackets inside strings do not count). */
function nestsDeeperThan(raw: Buffer, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** A JSON body checked as every route's is: content type (415), nesting depth and syntax (400). */
export function parseJson(raw: Buffer, contentType: string): unknown {
  if (raw.length === 0) return undefined;
  if (!JSON_TYPE.test(contentType)) {
    throw new TroupeError('UNSUPPORTED_MEDIA_TYPE', `content-type ${contentType || '(none)'} is not application/json`);
  }
  if (nestsDeeperThan(raw, MAX_JSON_DEPTH)) {
    throw new TroupeError('VALIDATION_FAILED', `the body nests deeper than ${MAX_JSON_DEPTH} levels`, {
      details: [{ path: '/', message: `nesting deeper than ${MAX_JSON_DEPTH}` }],
    });
  }
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch (err) {
    throw new TroupeError('MALFORMED_JSON', `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Registers a route. The handler's result (or error, mapped through the error registry) is sent in one cork;
 * an unexpected error is logged and answered 500 without details.
 */
/** A percent-encoded path segment (`exe_…%3A2`) decoded; a malformed one stays as sent (and matches nothing). */
function decodeParameter(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function route(
  app: TemplatedApp,
  method: Method,
  pattern: string,
  params: number,
  handler: Handler,
  options: RouteOptions,
  extras: RouteExtras = {},
): void {
  const httpMethod = method === 'del' ? 'DELETE' : method.toUpperCase();
  const hasBody = method !== 'get' && method !== 'del';
  app[method](pattern, (res: HttpResponse, req: HttpRequest) => {
    const started = performance.now();
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const url = req.getUrl();
    const query = req.getQuery() ?? '';
    const values = params === 0 ? [] : Array.from({ length: params }, (_, i) => decodeParameter(req.getParameter(i) ?? ''));
    const authorization = req.getHeader('authorization');
    const contentType = hasBody ? req.getHeader('content-type') : '';
    const headers = extras.headers ? Object.fromEntries(extras.headers.map((name) => [name, req.getHeader(name)])) : undefined;
    const body = hasBody ? readBody(res, options.maxBodyBytes, req.getHeader('content-length')) : null;
    const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
    const finish = (reply: Reply) => {
      send(res, reply, () => aborted);
      options.observe?.(pattern, httpMethod, reply.status, (performance.now() - started) / 1000);
    };
    const answer = async (): Promise<Reply> => {
      const raw = body === null ? null : await body;
      const ctx: HttpContext = {
        method: httpMethod,
        route: pattern,
        url,
        query: query === '' ? NO_QUERY : new URLSearchParams(query),
        params: values,
        authorization,
        ip,
        body: raw === null || extras.rawBody === true ? undefined : parseJson(raw, contentType),
        ...(extras.rawBody === true ? { rawBody: raw ?? Buffer.alloc(0) } : {}),
        ...(headers ? { headers } : {}),
      };
      return handler(ctx);
    };
    answer().then(finish, (err: unknown) => finish(errorReply(err, options.logger, { method: httpMethod, url })));
  });
}
