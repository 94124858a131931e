/** Opaque pagination cursors: the last id seen, base64url-encoded. */
export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

/** Returns null for a cursor that is not one of ours, so callers can answer 400. */
export function decodeCursor(cursor: string): string | null {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  return /^[a-z]{3}_[0-9a-z]{26}$/.test(id) ? id : null;
}

/**
 * A cursor into one execution's events: the execution and the last `seq` seen, so that a cursor of another
 * execution's events is told apart.
 */
export function encodeSeqCursor(executionId: string, seq: number): string {
  return Buffer.from(`${executionId}/${seq}`, 'utf8').toString('base64url');
}

/** The execution and `seq` of an events cursor, or null for a cursor that is not one. */
export function decodeSeqCursor(cursor: string): { executionId: string; seq: number } | null {
  const match = /^(exe_[0-9a-z]{26})\/([1-9]\d{0,14})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return match ? { executionId: match[1] as string, seq: Number(match[2]) } : null;
}
