import { signal } from '@preact/signals';

/** The credentials of this tab (sessionStorage: gone when the tab closes). */
const KEY = 'troupe.token';
export const token = signal<string | null>(sessionStorage.getItem(KEY));
export const me = signal<{ id: string; roles: string[] } | null>(null);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A request to the API with the tab's credentials; JSON in, JSON out; an error answer throws ApiError. */
export async function api<T>(method: string, path: string, body?: unknown, credentials = token.value): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { ...(credentials ? { authorization: `Bearer ${credentials}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const parsed: unknown = text && res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text;
  if (!res.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } }).error;
    throw new ApiError(res.status, error?.code ?? String(res.status), error?.message ?? `${method} ${path}: ${res.status}`);
  }
  return parsed as T;
}

/** Checks the credentials (GET /v1/me) and keeps them for the tab. */
export async function signIn(credentials: string): Promise<void> {
  const who = await api<{ id: string; roles: string[] }>('GET', '/v1/me', undefined, credentials);
  sessionStorage.setItem(KEY, credentials);
  token.value = credentials;
  me.value = who;
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  token.value = null;
  me.value = null;
}

/** Every page of a list endpoint (`{ items, next }`). */
export async function all<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  let next: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page: { items: T[]; next: string | null } = await api('GET', `${path}${sep}limit=1000${next ? `&cursor=${encodeURIComponent(next)}` : ''}`);
    items.push(...page.items);
    next = page.next;
  } while (next);
  return items;
}

/** Saves what an authenticated GET answers as a file (reports need the bearer token, which a link cannot carry). */
export async function download(path: string, filename: string): Promise<void> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token.value ?? ''}` } });
  if (!res.ok) throw new ApiError(res.status, String(res.status), `${path}: ${res.status}`);
  const url = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement('a'), { href: url, download: filename });
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
