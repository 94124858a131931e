import { randomBytes } from 'node:crypto';
import { newId } from '../../src/core/ids.js';
import type { AgentHeartbeat, ControlMessage, Job, JobResult, TransitionEvent } from '../../src/bus/bus.port.js';

/** Message builders for the bus contract. Pool names carry a random suffix so suites may share a server. */

export function poolName(label = 'pool'): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

export function makeJob(pool: string, n = 0): Job {
  return {
    jobId: newId('job'),
    executionId: newId('exe'),
    runId: n % 2 === 0 ? newId('run') : null,
    attempt: 1 + (n % 3),
    pool,
    item: {
      name: `job ${n} ✓`,
      type: 'GENERIC',
      steps: [{ action: 'noop' }, { action: 'sleep', ms: n }],
      labels: { n: String(n) },
    },
    deadlineAt: Date.UTC(2030, 0, 1) + n,
  };
}

export function makeResult(n = 0): JobResult {
  return {
    jobId: newId('job'),
    executionId: newId('exe'),
    attempt: 1,
    outcome: n % 2 === 0 ? 'PASSED' : 'ERROR',
    reason: n % 2 === 0 ? null : 'runner crashed',
    ...(n % 2 === 0 ? {} : { error: { code: 'RUNNER_CRASHED', message: 'boom', retryable: true } }),
    steps: [{ index: 0, name: 'first', status: 'PASSED', startedAt: 1, durationMs: 2, output: 'ok' }],
    agentId: 'agent-1',
    startedAt: 1_000 + n,
    finishedAt: 2_000 + n,
  };
}

export function makeTransition(n = 0): TransitionEvent {
  return {
    type: 'transition',
    executionId: newId('exe'),
    runId: null,
    seq: n + 1,
    from: n === 0 ? null : 'PENDING',
    to: n === 0 ? 'PENDING' : 'RUNNING',
    event: n === 0 ? 'CREATE' : 'START',
    at: Date.UTC(2030, 0, 1) + n,
    attempt: 1,
    reason: null,
    actor: 'engine',
  };
}

export function makeControl(n = 0): ControlMessage {
  return { type: n % 2 === 0 ? 'cancel' : 'abort', jobId: newId('job'), executionId: newId('exe'), reason: `stop ${n}` };
}

export function makeHeartbeat(n = 0): AgentHeartbeat {
  return {
    agentId: `agent-${randomBytes(3).toString('hex')}`,
    pools: ['default', `pool-${n}`],
    capacity: 4,
    running: n % 4,
    runners: ['GENERIC', 'BDD'],
    labels: { os: 'linux', n: String(n) },
    startedAt: Date.UTC(2030, 0, 1),
    at: Date.UTC(2030, 0, 1) + n * 1000,
    ...(n === 3 ? { leaving: true } : {}),
  };
}
