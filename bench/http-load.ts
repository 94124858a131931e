/**
 * The load generator of http-api.bench.ts, run as a forked child so autocannon does not share the server's event
 * loop. Each IPC message is one load; the answer is its summary. Exits when the parent disconnects.
 */
import autocannon from 'autocannon';

export interface LoadRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  seconds: number;
  connections: number;
}

export interface LoadSummary {
  /** autocannon's mean of per-second request counts. */
  reqPerSec: number;
  /** Responses received, any status. */
  total: number;
  ok2xx: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** autocannon's latency histogram (2xx only), whole milliseconds. */
  p50: number;
  p99: number;
  max: number;
  seconds: number;
  /** CPU time of this load process during the load. */
  loaderCpuMs: number;
}

export async function load(request: LoadRequest): Promise<LoadSummary> {
  const cpu = process.cpuUsage();
  const result = await autocannon({
    url: request.url,
    method: request.method,
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
    duration: request.seconds,
    connections: request.connections,
    pipelining: 1,
  });
  const used = process.cpuUsage(cpu);
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0;
  return {
    reqPerSec: result.requests.average,
    total: result.requests.total,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    seconds: result.duration,
    loaderCpuMs: Math.round((used.user + used.system) / 1000),
  };
}

if (process.send !== undefined) {
  process.on('message', (request: LoadRequest) => {
    load(request).then(
      (summary) => process.send?.({ ok: true, summary }),
      (err: unknown) => process.send?.({ ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
