import { ERROR_CODES, TroupeError, type ErrorCode } from '../core/errors.js';

/** A small client of the Troupe HTTP API for the CLI. Errors come back as the server's TroupeError. */
export class ApiClient {
  readonly base: string;

  constructor(
    server: string,
    readonly token: string | undefined,
  ) {
    this.base = server.replace(/\/+$/, '');
  }

  get headers(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /** The live channel's URL (ws:// or wss://). */
  get liveUrl(): string {
    return `${this.base.replace(/^http/, 'ws')}/v1/live`;
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: { ...this.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new TroupeError('SERVER_UNREACHABLE', `cannot reach ${this.base}: ${(err as Error).message}`, { cause: err });
    }
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: reported below with the status.
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      // A proxy in front of the server that cannot reach it answers 502, 503 or 504 with a page of its own.
      const gateway = error === undefined && [502, 503, 504].includes(response.status);
      const code: ErrorCode = error?.code && error.code in ERROR_CODES ? (error.code as ErrorCode) : gateway ? 'SERVER_UNREACHABLE' : 'INTERNAL';
      throw new TroupeError(code, `${method} ${path}: ${response.status} ${error?.message ?? text.slice(0, 200)}`, {
        details: error?.details,
      });
    }
    return { status: response.status, body: parsed as T };
  }

  /** Every item of a list endpoint (`{ items, next }`), following `next` page by page. */
  async all<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const page: { items: T[]; next: string | null } = (await this.request<{ items: T[]; next: string | null }>('GET', `${path}${path.includes('?') ? '&' : '?'}${query}`)).body;
      items.push(...page.items);
      cursor = page.next;
    } while (cursor !== null);
    return items;
  }
}
