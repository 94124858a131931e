import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Signatures of webhooks received (GitHub, GitLab) and of run notifications sent (SPEC §8). */

const GITHUB_SIGNATURE = /^sha256=([0-9a-f]{64})$/;

/** `sha256=<hex HMAC-SHA256 of body>`, as GitHub sends it in `X-Hub-Signature-256`. */
export function githubSignature(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Whether `header` is GitHub's signature of `body` under `secret`, compared in constant time. A missing or
 * malformed header is false; the lengths are checked before `timingSafeEqual`, which throws on a mismatch.
 */
export function verifyGithubSignature(secret: string, body: Buffer | string, header: string | undefined): boolean {
  const given = GITHUB_SIGNATURE.exec((header ?? '').trim().toLowerCase())?.[1];
  if (given === undefined) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  const actual = Buffer.from(given, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * Whether `given` equals `expected` (GitLab's `X-Gitlab-Token`), in constant time: both are hashed first, so
 * neither the content nor the length of the secret shows in the time taken.
 */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined || given === '') return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/**
 * The `Troupe-Signature` header of a notification: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` keyed
 * by the trigger's notify secret. The timestamp is signed with the body so a receiver can refuse old replays.
 */
export function notificationSignature(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}
