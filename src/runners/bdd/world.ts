/** The state one scenario's steps share: HTTP settings, the last response, saved values. */

const MAX_OUTPUT = 64 * 1024;

/** The last HTTP response a scenario received. */
export interface HttpResponse {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  text: string;
}

/**
 * A failed expectation: the step (and its scenario) is FAILED, not ERROR. Errors named `AssertionError`
 * (node:assert, chai…) count as failures too.
 */
export class StepFailure extends Error {
  override readonly name = 'StepFailure';
}

/** True when `err` is a failed expectation rather than a broken step. */
export function isFailure(err: unknown): boolean {
  if (err instanceof StepFailure) return true;
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'AssertionError' || name === 'StepFailure';
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;

/**
 * Passed as the first argument to every step function. A fresh World per scenario (and per outline row), so
 * scenarios never see each other's state.
 */
export class World {
  /** Prefix for relative request paths, set by `Given the base URL is "…"`. */
  baseUrl: string | null = null;
  /** Headers sent with every request, set by `Given the header "…" is "…"`. */
  readonly headers: Record<string, string> = {};
  /** The last response, or null before the first request. */
  response: HttpResponse | null = null;
  /** Values saved by `When I save the response JSON at "…" as "<name>"`; `{name}` in later steps reads them. */
  readonly values: Record<string, unknown> = {};
  /** Free for custom step definitions to share data within a scenario. */
  readonly state: Record<string, unknown> = {};
  /** Fires on cancel, abort or the execution's deadline; pass it to anything that waits. */
  readonly signal: AbortSignal;
  private lines: string[] = [];

  constructor(signal: AbortSignal) {
    this.signal = signal;
  }

  /** Replaces `{name}` with saved values (strings as they are, others as JSON); unknown names stay as written. */
  interpolate(text: string): string {
    return text.replace(PLACEHOLDER, (whole, name: string) => {
      if (!Object.hasOwn(this.values, name)) return whole;
      const value = this.values[name];
      return typeof value === 'string' ? value : JSON.stringify(value);
    });
  }

  /** Adds a line to the current step's output. */
  log(line: string): void {
    this.lines.push(line);
  }

  /** Fails the current step (FAILED, not ERROR). */
  fail(message: string): never {
    throw new StepFailure(message);
  }

  /** The output logged since the last call, for the step record. */
  takeOutput(): string | undefined {
    if (this.lines.length === 0) return undefined;
    const out = this.lines.join('\n').slice(0, MAX_OUTPUT);
    this.lines = [];
    return out;
  }

  /** Resolves a path against the base URL; an absolute URL is used as it is. */
  resolve(pathOrUrl: string): string {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(pathOrUrl)) return pathOrUrl;
    if (this.baseUrl === null) {
      throw new Error(`"${pathOrUrl}" is relative and no base URL is set (Given the base URL is "http://…")`);
    }
    return new URL(pathOrUrl.replace(/^\//, ''), this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`).toString();
  }

  /** Sends a request with the scenario's headers, honouring the signal; the response becomes `response`. */
  async request(method: string, pathOrUrl: string, body?: { text: string; contentType: string }): Promise<HttpResponse> {
    const url = this.resolve(pathOrUrl);
    const headers: Record<string, string> = { ...this.headers };
    if (body && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = body.contentType;
    const started = performance.now();
    let res: Response;
    try {
      res = await fetch(url, { method, headers, signal: this.signal, ...(body ? { body: body.text } : {}) });
    } catch (err) {
      if (this.signal.aborted) throw err;
      // undici says only "fetch failed"; the cause says why (ECONNREFUSED, a DNS failure…).
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw new Error(`${method} ${url} failed: ${cause ?? (err as Error).message}`, { cause: err });
    }
    const text = await res.text();
    this.log(`${method} ${url} → ${res.status} in ${(performance.now() - started).toFixed(1)} ms\n${text}`);
    this.response = { method, url, status: res.status, headers: res.headers, text };
    return this.response;
  }

  /** The last response, or a failure when no request was sent yet. */
  lastResponse(): HttpResponse {
    if (!this.response) this.fail('no request has been sent yet in this scenario');
    return this.response;
  }

  /** The last response's body as JSON, or a failure when it is not JSON. */
  responseJson(): unknown {
    const res = this.lastResponse();
    try {
      return JSON.parse(res.text) as unknown;
    } catch {
      return this.fail(`expected a JSON body from ${res.method} ${res.url}, got: ${res.text.slice(0, 200)}`);
    }
  }
}
