import WebSocket from 'ws';
import type { TransitionEvent } from '../bus/bus.port.js';
import { TroupeError } from '../core/errors.js';
import { isTerminal } from '../core/statuses.js';
import type { HtmlRun } from '../report/html.js';
import type { RunReport } from '../report/run-report.js';
import { ApiClient } from './api-client.js';
import { createProgress, type ProgressForm } from './progress.js';
import { applyRunFlags, readRunFile, type RunFlags } from './run-file.js';
import { finishRun, statusExitCode, type ReportFiles } from './summary.js';

interface LiveMessage {
  op?: string;
  topic?: string;
  cursor?: number;
  event?: (TransitionEvent & { at: string | number }) | { type: 'step' };
  error?: { code: string; message: string };
}

type Outcome = 'done' | 'dropped' | 'reset';

/**
 * Follows a run on the live channel until every execution is terminal. A dropped connection is resumed with
 * `since` (no gap, no duplicate); a `reset` (history no longer retained) falls back to polling the run.
 */
async function follow(client: ApiClient, runId: string, total: number, onEvent: (e: TransitionEvent) => void): Promise<void> {
  let cursor = 0;
  const done = new Set<string>();
  for (let failures = 0; failures < 30; ) {
    const outcome = await new Promise<Outcome>((resolve, reject) => {
      const ws = new WebSocket(client.liveUrl, { headers: client.headers });
      ws.on('open', () => {
        failures = 0;
        ws.send(JSON.stringify({ op: 'subscribe', topics: [`run:${runId}`], since: cursor }));
      });
      ws.on('unexpected-response', (_req, res) => {
        ws.terminate();
        reject(new TroupeError(res.statusCode === 401 ? 'UNAUTHENTICATED' : 'SERVER_UNREACHABLE', `live channel refused: HTTP ${res.statusCode}`));
      });
      ws.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString()) as LiveMessage;
        if (message.op === 'reset') {
          ws.close();
          resolve('reset');
        } else if (message.op === 'error') {
          ws.close();
          reject(new TroupeError('NOT_FOUND', `live channel: ${message.error?.message ?? 'error'}`));
        } else if (message.event && typeof message.cursor === 'number') {
          cursor = message.cursor;
          if (message.event.type !== 'transition') return; // step events: the summary reads steps over REST
          const event = { ...message.event, at: Date.parse(String(message.event.at)) };
          onEvent(event);
          if (isTerminal(event.to)) done.add(event.executionId);
          if (done.size >= total) {
            ws.close();
            resolve('done');
          }
        }
      });
      ws.on('close', () => resolve('dropped'));
      ws.on('error', () => resolve('dropped'));
    });
    if (outcome === 'done') return;
    if (outcome === 'reset') return poll(client, runId);
    failures++;
    await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** failures)));
  }
  throw new TroupeError('SERVER_UNREACHABLE', 'lost the live channel too many times in a row');
}

async function poll(client: ApiClient, runId: string): Promise<void> {
  for (;;) {
    const { body } = await client.request<{ status: string }>('GET', `/v1/runs/${runId}`);
    if (body.status !== 'PENDING' && body.status !== 'RUNNING') return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The run's final status: it is stored just after its last execution's terminal event. */
async function finalRun(client: ApiClient, runId: string): Promise<{ status: string; name: string }> {
  for (;;) {
    const { body } = await client.request<{ status: string; name: string }>('GET', `/v1/runs/${runId}`);
    if (body.status !== 'PENDING' && body.status !== 'RUNNING') return body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `troupe run <file> --server URL`: submits through the API and follows the live channel. */
export async function remoteRunCommand(path: string, options: { server: string; token?: string; flags?: RunFlags; progress?: ProgressForm } & ReportFiles): Promise<number> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const body = applyRunFlags(await readRunFile(path), options.flags ?? {});
  body.context ??= 'CI_CD';
  const client = new ApiClient(options.server, options.token);
  const started = Date.now();
  const { status, body: run } = await client.request<{ id: string; status: string; executionIds: string[] }>('POST', '/v1/runs', body);
  const items = (body.items as { name: string }[] | undefined) ?? [];
  const names = new Map(run.executionIds.map((id, i) => [id, items[i]?.name ?? id]));
  out(`${status === 201 ? 'Submitted' : 'Resuming'} run ${run.id} on ${client.base}: ${run.executionIds.length} execution(s)`);
  const progress = createProgress({ form: options.progress ?? 'lines', total: run.executionIds.length, names, write: (text) => process.stdout.write(text) });
  try {
    await follow(client, run.id, run.executionIds.length, (event) => {
      progress.onTransition(event);
      // A MANUAL execution waits for a person: say what is asked and where to answer.
      if (event.to === 'PAUSED' && event.reason?.startsWith('awaiting the verdict for step ')) {
        const step = /^awaiting the verdict for step (\d+)/.exec(event.reason)?.[1] ?? '0';
        progress.print(`  ? ${names.get(event.executionId) ?? event.executionId}: ${event.reason}`);
        progress.print(`    POST ${client.base}/v1/executions/${event.executionId}/steps/${step}/verdict {"verdict":"passed"|"failed"|"skipped"}`);
      }
    });
  } finally {
    progress.stop();
  }
  await finalRun(client, run.id);
  const { body: report } = await client.request<RunReport<HtmlRun & { name: string }>>('GET', `/v1/runs/${run.id}/report`);
  return finishRun(out, report, started, options);
}

/** `troupe status <id> --server URL`. */
export async function remoteStatusCommand(id: string, options: { server: string; token?: string }): Promise<number> {
  const client = new ApiClient(options.server, options.token);
  const path = id.startsWith('run_') ? `/v1/runs/${id}` : `/v1/executions/${id}`;
  const { body } = await client.request<{ status: string }>('GET', path);
  const events = id.startsWith('run_') ? undefined : await client.all<unknown>(`${path}/events`);
  process.stdout.write(`${JSON.stringify(events ? { ...body, events } : body, null, 2)}\n`);
  return statusExitCode(body.status);
}
