import { z } from 'zod';
import { TroupeError } from './errors.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` });
const url = z.string().url({ message: 'must be a URL' });

/** Named defaults (SPEC §5). */
export const CONFIG_DEFAULTS = {
  EXECUTION_MAX_CONCURRENT_JOBS: 50,
  EXECUTION_DEFAULT_TIMEOUT_MINUTES: 30,
  EXECUTION_RETRY_MAX_ATTEMPTS: 3,
  EXECUTION_RETRY_DELAY_SECONDS: 60,
  QUEUE_MAX_QUEUE_SIZE: 1000,
  QUEUE_BATCH_SIZE: 256,
  QUEUE_AGING_SECONDS: 30,
  QUEUE_ORDER_BY_DURATION: true,
  WEBSOCKET_ENABLED: true,
  WEBSOCKET_MAX_CONNECTIONS: 10_000,
  WEBSOCKET_HEARTBEAT_INTERVAL: 30,
  WEBSOCKET_CONNECTION_TIMEOUT: 120,
  METRICS_ENABLED: true,
  LOGGING_LEVEL: 'info',
  HEALTH_CHECK_INTERVAL: 30,
  EXECUTION_ISOLATION_ENABLED: true,
  AGENT_AUTHENTICATION_REQUIRED: false,
  WEBHOOK_SIGNATURE_VALIDATION: true,
  API_RATE_LIMIT_PER_MINUTE: 100,
  PORT: 8080,
  TROUPE_DATA_DIR: './data',
  TROUPE_JWT_AUDIENCE: 'troupe',
  TROUPE_MAX_BODY_BYTES: 4 * 1024 * 1024,
  TROUPE_EXEC_ENABLED: false,
  TROUPE_STORE_SYNC: 'FULL',
  TROUPE_POOL: 'default',
  TROUPE_ACK_WAIT_SECONDS: 30,
  TROUPE_MAX_DELIVER: 5,
  TROUPE_NOTIFY_MAX_ATTEMPTS: 5,
  TROUPE_NOTIFY_BACKOFF_MS: 1000,
  TROUPE_NOTIFY_PRIVATE_ADDRESSES: false,
} as const;

const D = CONFIG_DEFAULTS;

export const configSchema = z.object({
  EXECUTION_MAX_CONCURRENT_JOBS: int(1, 100_000).default(D.EXECUTION_MAX_CONCURRENT_JOBS),
  EXECUTION_DEFAULT_TIMEOUT_MINUTES: int(1, 7 * 24 * 60).default(D.EXECUTION_DEFAULT_TIMEOUT_MINUTES),
  EXECUTION_RETRY_MAX_ATTEMPTS: int(1, 100).default(D.EXECUTION_RETRY_MAX_ATTEMPTS),
  EXECUTION_RETRY_DELAY_SECONDS: int(0, 86_400).default(D.EXECUTION_RETRY_DELAY_SECONDS),
  QUEUE_MAX_QUEUE_SIZE: int(1, 10_000_000).default(D.QUEUE_MAX_QUEUE_SIZE),
  /** Worker threads in the local pool; defaults to the number of CPUs. */
  QUEUE_WORKER_COUNT: int(1, 1024).optional(),
  QUEUE_BATCH_SIZE: int(1, 100_000).default(D.QUEUE_BATCH_SIZE),
  /** Seconds of waiting that raise an item's effective priority by one level. */
  QUEUE_AGING_SECONDS: int(1, 86_400).default(D.QUEUE_AGING_SECONDS),
  /** Within a run, start the tests with the longest recorded durations first (unknown ones first of all). */
  QUEUE_ORDER_BY_DURATION: bool.default(D.QUEUE_ORDER_BY_DURATION),
  WEBSOCKET_ENABLED: bool.default(D.WEBSOCKET_ENABLED),
  WEBSOCKET_MAX_CONNECTIONS: int(1, 1_000_000).default(D.WEBSOCKET_MAX_CONNECTIONS),
  WEBSOCKET_HEARTBEAT_INTERVAL: int(1, 3600).default(D.WEBSOCKET_HEARTBEAT_INTERVAL),
  // uWebSockets.js accepts idle timeouts of 8–960 s only.
  WEBSOCKET_CONNECTION_TIMEOUT: int(8, 960).default(D.WEBSOCKET_CONNECTION_TIMEOUT),
  METRICS_ENABLED: bool.default(D.METRICS_ENABLED),
  LOGGING_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default(D.LOGGING_LEVEL),
  HEALTH_CHECK_INTERVAL: int(1, 3600).default(D.HEALTH_CHECK_INTERVAL),
  EXECUTION_ISOLATION_ENABLED: bool.default(D.EXECUTION_ISOLATION_ENABLED),
  AGENT_AUTHENTICATION_REQUIRED: bool.default(D.AGENT_AUTHENTICATION_REQUIRED),
  WEBHOOK_SIGNATURE_VALIDATION: bool.default(D.WEBHOOK_SIGNATURE_VALIDATION),
  API_RATE_LIMIT_PER_MINUTE: int(1, 10_000_000).default(D.API_RATE_LIMIT_PER_MINUTE),
  PORT: int(0, 65_535).default(D.PORT),
  TROUPE_DATA_DIR: z.string().min(1, { message: 'must not be empty' }).default(D.TROUPE_DATA_DIR),
  NATS_URL: z
    .string()
    .regex(/^(nats|tls|wss?):\/\/[^\s,]+(,(nats|tls|wss?):\/\/[^\s,]+)*$/, {
      message: 'must be nats://host:port (several separated by commas)',
    })
    .optional(),
  /** NATS credentials (docs/nats.md): a .creds file, a user and password, or a token. */
  NATS_CREDS: z.string().min(1).optional(),
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  NATS_TOKEN: z.string().min(1).optional(),
  /** The base pool (job subject token) this process dispatches to or serves. */
  TROUPE_POOL: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,46}$/, { message: 'must be 1-46 of A-Z a-z 0-9 _ -' })
    .default(D.TROUPE_POOL),
  /** What this agent offers to items that `require` labels: `key=value,key=value`. */
  TROUPE_AGENT_LABELS: z
    .string()
    .regex(/^\s*[^=,\s][^=,]*=[^,]*(,\s*[^=,\s][^=,]*=[^,]*)*\s*$/, { message: 'must be key=value pairs separated by commas' })
    .optional(),
  TROUPE_AGENT_ID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'must be 1-64 of A-Z a-z 0-9 _ -' }).optional(),
  /** Seconds a worker may hold a job without a sign of life before it is redelivered. */
  TROUPE_ACK_WAIT_SECONDS: int(1, 3600).default(D.TROUPE_ACK_WAIT_SECONDS),
  /** Deliveries of a job without a result before it is dead-lettered and its execution ABORTED. */
  TROUPE_MAX_DELIVER: int(1, 100).default(D.TROUPE_MAX_DELIVER),
  MONGODB_URL: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, { message: 'must start with mongodb:// or mongodb+srv://' })
    .optional(),
  TROUPE_JWT_SECRET: z.string().min(32, { message: 'must be at least 32 characters' }).optional(),
  TROUPE_JWT_PUBLIC_KEY: z.string().min(1).optional(),
  TROUPE_JWT_JWKS_URL: url.optional(),
  TROUPE_JWT_AUDIENCE: z.string().min(1).default(D.TROUPE_JWT_AUDIENCE),
  TROUPE_MAX_BODY_BYTES: int(1024, 1024 * 1024 * 1024).default(D.TROUPE_MAX_BODY_BYTES),
  TROUPE_EXEC_ENABLED: bool.default(D.TROUPE_EXEC_ENABLED),
  /** More variable names `exec` steps inherit besides PATH, HOME, LANG, TZ, TMPDIR (secrets never pass). */
  TROUPE_EXEC_ENV_ALLOW: z
    .string()
    .regex(/^\s*[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*\s*$/, {
      message: 'must be variable names separated by commas',
    })
    .optional(),
  /** A directory of BDD step-definition modules (`.js`/`.mjs`/`.cjs`), loaded by each worker thread (docs/runners.md). */
  TROUPE_BDD_STEPS_DIR: z.string().min(1, { message: 'must not be empty' }).optional(),
  /** SQLite `synchronous` level: FULL survives power loss; NORMAL survives process crashes only. */
  TROUPE_STORE_SYNC: z.enum(['FULL', 'NORMAL'], { message: 'must be FULL or NORMAL' }).default(D.TROUPE_STORE_SYNC),
  /** The secret GitHub signs webhook deliveries with; unset, `POST /v1/hooks/github` answers 404. */
  TROUPE_GITHUB_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** The token GitLab sends in `X-Gitlab-Token`; unset, `POST /v1/hooks/gitlab` answers 404. */
  TROUPE_GITLAB_WEBHOOK_TOKEN: z.string().min(1).optional(),
  /** Attempts at posting a triggered run's report to its trigger's `notify.url` (the first included). */
  TROUPE_NOTIFY_MAX_ATTEMPTS: int(1, 100).default(D.TROUPE_NOTIFY_MAX_ATTEMPTS),
  /** Wait before the second attempt; doubled before each one after. */
  TROUPE_NOTIFY_BACKOFF_MS: int(1, 3_600_000).default(D.TROUPE_NOTIFY_BACKOFF_MS),
  /** Whether run notifications may go to loopback, private and link-local addresses. */
  TROUPE_NOTIFY_PRIVATE_ADDRESSES: bool.default(D.TROUPE_NOTIFY_PRIVATE_ADDRESSES),
});

export type Config = Readonly<z.infer<typeof configSchema>>;

/**
 * Parses the environment once. Empty strings count as unset. A bad value throws CONFIG_INVALID whose
 * message names every offending variable and what is wrong with it.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new TroupeError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, {
      details: problems,
    });
  }
  return Object.freeze(parsed.data);
}

/** What the CLI reads of its environment besides the engine's configuration (SPEC §8). */
export const cliConfigSchema = z.object({
  /** The server `troupe run` and `troupe status` talk to instead of the local engine (`--server` wins). */
  TROUPE_SERVER: z.string().optional(),
  /** The API key or JWT for TROUPE_SERVER (`--token` wins). */
  TROUPE_TOKEN: z.string().optional(),
  /** Set by CI systems (GitHub Actions, GitLab CI, ...): progress is printed as plain lines; `false`/`0`/`no` unset it. */
  CI: z
    .string()
    .optional()
    .transform((v) => v !== undefined && !/^(false|0|no)$/i.test(v)),
});

export type CliConfig = Readonly<z.infer<typeof cliConfigSchema>>;

/** Parses the CLI's own variables; empty strings count as unset, as in `loadConfig`. */
export function loadCliConfig(env: Record<string, string | undefined> = process.env): CliConfig {
  const input: Record<string, string> = {};
  for (const key of Object.keys(cliConfigSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  return Object.freeze(cliConfigSchema.parse(input));
}

/** Variables every `exec` step inherits from the process running it. */
export const EXEC_ENV_BASE = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'] as const;

/** Names that never reach an `exec` step, even when listed in TROUPE_EXEC_ENV_ALLOW. */
const EXEC_ENV_DENIED = /^(TROUPE_|NATS_|MONGODB_)|_(SECRET|TOKEN|PASSWORD)$/i;

/**
 * The scrubbed environment an `exec` step starts from (docs/runners.md): only allow-listed variables of this
 * process pass, so the engine's own credentials never reach a test command.
 */
export function execBaseEnv(config: Config, env: Record<string, string | undefined> = process.env): Record<string, string> {
  const extra = (config.TROUPE_EXEC_ENV_ALLOW ?? '').split(',').map((n) => n.trim());
  const out: Record<string, string> = {};
  for (const name of [...EXEC_ENV_BASE, ...extra]) {
    const value = env[name];
    if (name !== '' && value !== undefined && !EXEC_ENV_DENIED.test(name)) out[name] = value;
  }
  return out;
}
