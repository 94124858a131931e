import { useEffect, useState } from 'preact/hooks';
import { api, me } from '../api.js';

interface Queue {
  depth: Record<string, number>;
  queued: number;
  running: number;
  capacity: number;
  live: number;
}
interface Agent {
  agentId: string;
  status: string;
  capacity: number;
  running: number;
  pools?: string[];
  labels?: Record<string, string>;
}
interface Letter {
  jobId: string;
  executionId: string;
  name: string;
  deliveries: number;
  deadAt: string;
  reason: string;
}

/** Polled (the queue has no live topic): every 5 s while the page is visible, 2–3 requests each time. */
const EVERY_MS = 5000;

/** Depth by priority, running against capacity, live agents, and dead letters (admin) — refreshed every 5 s. */
export function QueuePage() {
  const admin = me.value?.roles.includes('admin') ?? false;
  const [queue, setQueue] = useState<Queue | null>(null);
  const [agents, setAgents] = useState<Agent[]>([]);
  const [letters, setLetters] = useState<Letter[]>([]);
  const [message, setMessage] = useState<string | null>(null);

  const load = async () => {
    const [q, a, d] = await Promise.all([
      api<Queue>('GET', '/v1/queue'),
      api<{ items: Agent[] }>('GET', '/v1/agents'),
      admin ? api<{ items: Letter[] }>('GET', '/v1/dead-letters') : Promise.resolve({ items: [] }),
    ]);
    setQueue(q);
    setAgents(a.items);
    setLetters(d.items);
  };
  useEffect(() => {
    const tick = () => {
      if (!document.hidden) void load().catch((err: Error) => setMessage(err.message));
    };
    tick();
    const timer = setInterval(tick, EVERY_MS);
    return () => clearInterval(timer);
  }, [admin]);

  const act = (work: Promise<unknown>, done: string) =>
    void work.then(
      () => {
        setMessage(done);
        return load();
      },
      (err: Error) => setMessage(err.message),
    );

  return (
    <section>
      <h1>Queue and workers</h1>
      {message && <p role="status" class="message">{message}</p>}
      {queue && (
        <>
          <h2>Queue</h2>
          <dl class="stats">
            {Object.entries(queue.depth).map(([priority, n]) => (
              <div key={priority}>
                <dt>{priority}</dt>
                <dd>{n}</dd>
              </div>
            ))}
            <div>
              <dt>Running (EXECUTION_MAX_CONCURRENT_JOBS)</dt>
              <dd>
                {queue.running} of {queue.capacity}
              </dd>
            </div>
          </dl>
          <meter min={0} max={queue.capacity} value={queue.running} aria-label="Running against capacity" />
        </>
      )}
      <h2>Agents</h2>
      {agents.length === 0 ? (
        <p class="empty">No remote agents (embedded mode runs on this server's own pool).</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Agent</th>
              <th>Status</th>
              <th>Running / pool slots</th>
              <th>Labels</th>
            </tr>
          </thead>
          <tbody>
            {agents.map((a) => (
              <tr key={a.agentId}>
                <td>{a.agentId}</td>
                <td>{a.status}</td>
                <td>
                  {a.running} / {a.capacity}
                </td>
                <td>{Object.entries(a.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {admin && (
        <>
          <h2>Dead letters</h2>
          {letters.length === 0 ? (
            <p class="empty">No dead letters.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>Test</th>
                  <th>Deliveries</th>
                  <th>Reason</th>
                  <th>Dead since</th>
                  <th>Actions</th>
                </tr>
              </thead>
              <tbody>
                {letters.map((l) => (
                  <tr key={l.jobId} data-job-id={l.jobId}>
                    <td>{l.name}</td>
                    <td>{l.deliveries}</td>
                    <td>{l.reason}</td>
                    <td>{new Date(l.deadAt).toLocaleString()}</td>
                    <td>
                      <button type="button" aria-label={`Redrive ${l.name}`} onClick={() => act(api('POST', `/v1/dead-letters/${encodeURIComponent(l.jobId)}/redrive`), `${l.name} redriven`)}>
                        Redrive
                      </button>
                      <button type="button" aria-label={`Discard ${l.name}`} onClick={() => act(api('DELETE', `/v1/dead-letters/${encodeURIComponent(l.jobId)}`), `${l.name} discarded`)}>
                        Discard
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
