import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Bus, TransitionEvent } from '../bus/bus.port.js';
import { PRIORITIES, STATUSES, isTerminal } from '../core/statuses.js';
import type { Coordinator } from '../engine/coordinator.js';

/** Prometheus metrics of one server (its own registry, so tests can run several servers in one process). */
export class Metrics {
  readonly registry = new Registry();
  private readonly requestSeries = new Map<string, { observe(value: number): void }>();
  readonly httpDuration = new Histogram({
    name: 'troupe_http_request_duration_seconds',
    help: 'HTTP request latency by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly transitions = new Counter({
    name: 'troupe_transitions_total',
    help: 'Applied lifecycle transitions by target status',
    labelNames: ['to'] as const,
    registers: [this.registry],
  });
  readonly queueLatency = new Histogram({
    name: 'troupe_queue_latency_seconds',
    help: 'Time from entering the queue (PENDING or RETRYING) to RUNNING',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly runDuration = new Histogram({
    name: 'troupe_run_duration_seconds',
    help: 'Time from a run being submitted to its final status',
    labelNames: ['status'] as const,
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400],
    registers: [this.registry],
  });
  readonly liveConnections = new Gauge({
    name: 'troupe_live_connections',
    help: 'Open live-channel WebSocket connections',
    registers: [this.registry],
  });
  readonly slowConsumerCloses = new Counter({
    name: 'troupe_live_slow_consumer_closes_total',
    help: 'Live-channel clients closed because their backlog passed its bound',
    registers: [this.registry],
  });
  private readonly waitingSince = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(coordinator: Coordinator, bus: Bus) {
    collectDefaultMetrics({ register: this.registry, prefix: 'troupe_process_' });
    new Gauge({
      name: 'troupe_queue_depth',
      help: 'Executions waiting to start, by priority',
      labelNames: ['priority'] as const,
      registers: [this.registry],
      collect() {
        const depth = coordinator.queueDepth();
        for (const p of PRIORITIES) this.set({ priority: p }, depth[p]);
      },
    });
    new Gauge({
      name: 'troupe_executions',
      help: 'Live (non-terminal) executions held by this engine, by status',
      labelNames: ['status'] as const,
      registers: [this.registry],
      collect() {
        const counts = coordinator.liveByStatus();
        for (const s of STATUSES) if (!isTerminal(s)) this.set({ status: s }, counts[s] ?? 0);
      },
    });
    this.unsubscribe = bus.subscribeTransitions((event) => this.onTransition(event));
  }

  /** Request latency by route, method and status; each combination's series is looked up once. */
  observeRequest(route: string, method: string, status: number, seconds: number): void {
    const key = `${method} ${route} ${status}`;
    let series = this.requestSeries.get(key);
    if (!series) {
      series = this.httpDuration.labels({ route, method, status });
      this.requestSeries.set(key, series);
    }
    series.observe(seconds);
  }

  private onTransition(event: TransitionEvent): void {
    this.transitions.inc({ to: event.to });
    if (event.to === 'PENDING' || event.to === 'RETRYING') this.waitingSince.set(event.executionId, event.at);
    else if (event.to === 'RUNNING') {
      const since = this.waitingSince.get(event.executionId);
      if (since !== undefined && event.from !== 'PAUSED') this.queueLatency.observe(Math.max(0, event.at - since) / 1000);
      this.waitingSince.delete(event.executionId);
    } else if (isTerminal(event.to)) this.waitingSince.delete(event.executionId);
  }

  close(): void {
    this.unsubscribe();
  }
}
