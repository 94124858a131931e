import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { TroupeError } from '../core/errors.js';

/**
 * Reads what `troupe run` was given: a JSON file holding a `POST /v1/runs` body, or a directory whose
 * `*.json` files' items are run together. Errors name the file and the problem.
 */
export async function readRunFile(path: string): Promise<Record<string, unknown>> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new TroupeError('INVALID_FILE', `${path}: no such file or directory`);
  }
  if (!info.isDirectory()) return parseFile(path);
  const files = (await readdir(path)).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) throw new TroupeError('INVALID_FILE', `${path}: the directory holds no .json run files`);
  const items: unknown[] = [];
  for (const file of files) {
    const body = await parseFile(join(path, file));
    if (!Array.isArray(body.items)) throw new TroupeError('INVALID_FILE', `${join(path, file)}: "items" must be an array`);
    items.push(...(body.items as unknown[]));
  }
  return { name: basename(path), items };
}

async function parseFile(path: string): Promise<Record<string, unknown>> {
  const text = await readFile(path, 'utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new TroupeError('INVALID_FILE', `${path}: not valid JSON (${(err as Error).message})`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new TroupeError('INVALID_FILE', `${path}: expected a JSON object with "items" (the POST /v1/runs body)`);
  }
  return body as Record<string, unknown>;
}

/** What `troupe run`'s flags set on the run, over what the file says. */
export interface RunFlags {
  /** `key=value`, repeatable: added to the file's labels (a flag wins over the file for the same key). */
  label?: string[];
  failFast?: boolean;
  maxParallel?: string;
  priority?: string;
}

/** The run body with the flags applied; a malformed flag is an error naming it (nothing is submitted). */
export function applyRunFlags(body: Record<string, unknown>, flags: RunFlags): Record<string, unknown> {
  const out = { ...body };
  if (flags.label?.length) {
    const labels: Record<string, unknown> = { ...(out.labels as Record<string, unknown> | undefined) };
    for (const label of flags.label) {
      const match = /^([^=\s]+)=(.*)$/s.exec(label);
      if (!match) throw new TroupeError('VALIDATION_FAILED', `--label ${label}: expected key=value`);
      labels[match[1] as string] = match[2];
    }
    out.labels = labels;
  }
  if (flags.failFast) out.failFast = true;
  if (flags.maxParallel !== undefined) {
    if (!/^[1-9]\d{0,5}$/.test(flags.maxParallel)) throw new TroupeError('VALIDATION_FAILED', `--max-parallel ${flags.maxParallel}: expected a whole number from 1`);
    out.maxParallel = Number(flags.maxParallel);
  }
  if (flags.priority !== undefined) out.priority = flags.priority;
  return out;
}
