import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.port.js';
import type { Principal } from './principal.js';

/** Records who did what to which, when and from where. */
export function audit(
  store: Store,
  clock: Clock,
  principal: Principal,
  action: string,
  target: string,
  details?: unknown,
): Promise<void> {
  return store.appendAudit({
    at: clock.now(),
    principal: principal.id,
    action,
    target,
    source: principal.source ?? 'engine',
    ...(details === undefined ? {} : { details }),
  });
}
