/**
 * The one registry of error codes. Each code has its HTTP status and whether a client may retry.
 * Codes are never reused; docs/errors.md lists them and a test keeps the two in step.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, retryable: false, message: 'The request or definition is invalid.' },
  MALFORMED_JSON: { status: 400, retryable: false, message: 'The body is not valid JSON.' },
  UNAUTHENTICATED: { status: 401, retryable: false, message: 'Missing or invalid credentials.' },
  FORBIDDEN: { status: 403, retryable: false, message: 'Your role does not allow this.' },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false, message: 'The body is larger than TROUPE_MAX_BODY_BYTES.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, message: 'Send the body as application/json.' },
  RATE_LIMITED: { status: 429, retryable: true, message: 'Too many requests; retry after the time given.' },
  INVALID_FILE: { status: 400, retryable: false, message: 'The run file cannot be read or does not match the run schema.' },
  NOT_FOUND: { status: 404, retryable: false, message: 'No such resource.' },
  ILLEGAL_TRANSITION: { status: 409, retryable: false, message: 'The command is not legal in the current status.' },
  VERSION_CONFLICT: { status: 409, retryable: true, message: 'The resource changed concurrently; reload and retry.' },
  IDEMPOTENCY_CONFLICT: { status: 409, retryable: false, message: 'The idempotency key was used with a different request.' },
  QUEUE_FULL: { status: 429, retryable: true, message: 'The queue is full; retry later.' },
  INTERNAL: { status: 500, retryable: true, message: 'Something went wrong on our side; it was logged.' },
  CONFIG_INVALID: { status: 500, retryable: false, message: 'The configuration is invalid.' },
  STORE_UNAVAILABLE: { status: 503, retryable: true, message: 'The store is not reachable.' },
  ENGINE_STOPPED: { status: 503, retryable: true, message: 'The engine is shutting down.' },
  BUS_UNAVAILABLE: { status: 503, retryable: true, message: 'NATS cannot be reached.' },
  SERVER_UNREACHABLE: { status: 503, retryable: true, message: 'The Troupe server cannot be reached.' },
  RUNNER_FAILED: { status: 500, retryable: true, message: 'The runner failed.' },
  RUNNER_TIMEOUT: { status: 500, retryable: true, message: 'The runner exceeded its deadline.' },
  WORKER_LOST: { status: 500, retryable: true, message: 'The worker running the job was lost.' },
  UNKNOWN_RUNNER: { status: 400, retryable: false, message: 'No runner is registered for this item type or action.' },
  EXEC_SPAWN_FAILED: { status: 500, retryable: false, message: 'The command of an exec step could not be started.' },
  JUNIT_INVALID: { status: 500, retryable: false, message: 'The JUnit file of an exec step is missing or malformed.' },
  EXPECTATION_FAILED: { status: 500, retryable: false, message: 'A test expectation was not met.' },
} as const satisfies Record<string, { status: number; retryable: boolean; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error carrying a registry code. */
export class TroupeError extends Error {
  override readonly name = 'TroupeError';
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; details?: unknown }) {
    super(message ?? ERROR_CODES[code].message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }

  toJSON(): { error: { code: ErrorCode; message: string; details: unknown } } {
    return { error: { code: this.code, message: this.message, details: this.details ?? null } };
  }
}

/** Plain data form of an error, the only shape that crosses a thread or process boundary. */
export interface PlainError {
  code: string;
  message: string;
  stack?: string;
  retryable: boolean;
}

export function toPlainError(err: unknown, fallbackCode: ErrorCode = 'RUNNER_FAILED'): PlainError {
  if (err instanceof TroupeError) {
    return { code: err.code, message: err.message, stack: err.stack, retryable: err.retryable };
  }
  if (err instanceof Error) {
    return { code: fallbackCode, message: err.message, stack: err.stack, retryable: ERROR_CODES[fallbackCode].retryable };
  }
  return { code: fallbackCode, message: String(err), retryable: ERROR_CODES[fallbackCode].retryable };
}
