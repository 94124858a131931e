import type { TransitionEvent } from '../bus/bus.port.js';
import { isTerminal, type Status } from '../core/statuses.js';
import { BarProgress } from './progress-bar.js';

/** How `troupe run` shows progress: a bar redrawn in place on a terminal, plain lines in a CI log. */
export type ProgressForm = 'bar' | 'lines';

/**
 * The one place that picks the form: a bar only on an interactive terminal outside CI (CI systems set `CI`; a log
 * file or pipe is not a TTY, and `\r` redraws would turn into one long line or many there).
 */
export function progressForm(stdout: { isTTY?: boolean }, ci: boolean): ProgressForm {
  return stdout.isTTY === true && !ci ? 'bar' : 'lines';
}

/** What the run commands tell about a run while it goes. */
export interface ProgressView {
  onTransition(event: TransitionEvent): void;
  /** A line of its own (e.g. a question for a person), kept clear of the bar. */
  print(line: string): void;
  /** Ends the display (the bar's line is finished; timers stop). */
  stop(): void;
}

export interface ProgressOptions {
  form: ProgressForm;
  /** Executions in the run. */
  total: number;
  /** Execution id → the name shown. */
  names: Map<string, string>;
  /** Writes text as is (stdout); the forms add their own line ends. */
  write: (text: string) => void;
  /**
   * Least time between two redraws of the bar: a terminal write blocks the event loop, and a large run ends
   * thousands of executions a second.
   * @defaultValue 100
   */
  redrawMs?: number;
}

export function createProgress(o: ProgressOptions): ProgressView {
  return o.form === 'bar' ? new BarProgress(o.total, o.names, o.write, o.redrawMs ?? 100) : new LineProgress(o.total, o.names, (line) => o.write(`${line}\n`));
}

const MARK: Partial<Record<Status, string>> = { PASSED: '✓', SKIPPED: '-', CANCELLED: '-' };

/** The mark of a finished execution: ✓ passed, - skipped or cancelled, ✗ otherwise. */
export function markOf(status: Status): string {
  return MARK[status] ?? '✗';
}

/**
 * The plain form, for CI logs: a line per finished execution (and per retry) for small runs, a periodic tally for
 * large ones.
 */
export class LineProgress implements ProgressView {
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
      this.out(`  ${markOf(event.to)} ${name} ${event.to}${reason}`);
    }
  }

  print(line: string): void {
    this.out(line);
  }

  private tally(): void {
    const parts = [...this.counts].map(([s, n]) => `${s} ${n}`).join(', ');
    this.out(`  ${this.done}/${this.total} finished${parts ? ` (${parts})` : ''}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
