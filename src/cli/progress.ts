import type { TransitionEvent } from '../bus/bus.port.js';
import { isTerminal, type Status } from '../core/statuses.js';

const MARK: Partial<Record<Status, string>> = { PASSED: '✓', SKIPPED: '-', CANCELLED: '-' };

/**
 * Shows a run's progress: a line per finished execution for small runs, a periodic tally for large ones.
 */
export class Progress {
  private done = 0;
  private readonly counts = new Map<Status, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly total: number,
    private readonly names: Map<string, string>,
    private readonly out: (line: string) => void,
    private readonly verbose = total <= 200,
  ) {
    if (!verbose) {
      this.timer = setInterval(() => this.tally(), 1000);
      this.timer.unref();
    }
  }

  onTransition(event: TransitionEvent): void {
    if (event.to === 'RETRYING') {
      if (this.verbose) this.out(`  ↻ ${this.names.get(event.executionId) ?? event.executionId} attempt ${event.attempt} ${event.from === 'RUNNING' ? event.event : ''}: ${event.reason ?? ''}`.trimEnd());
      return;
    }
    if (!isTerminal(event.to)) return;
    this.done++;
    this.counts.set(event.to, (this.counts.get(event.to) ?? 0) + 1);
    if (this.verbose) {
      const name = this.names.get(event.executionId) ?? event.executionId;
      const reason = event.to === 'PASSED' || !event.reason ? '' : `: ${event.reason}`;
      this.out(`  ${MARK[event.to] ?? '✗'} ${name} ${event.to}${reason}`);
    }
  }

  private tally(): void {
    const parts = [...this.counts].map(([s, n]) => `${s} ${n}`).join(', ');
    this.out(`  ${this.done}/${this.total} finished${parts ? ` (${parts})` : ''}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
