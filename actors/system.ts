import type { AnyActorRef } from 'xstate';

/**
 * Stops an actor that joined the engine's system through the `parent` option. xstate lets only root actors
 * call `stop()`; a parent machine stops its children with `_stop()`, which is what this does for children
 * the engine root does not hold in its own snapshot (keeping 10,000s of children there would copy the map on
 * every spawn). A child that reached a final state has already left the system.
 */
export function stopChild(actor: AnyActorRef): void {
  if ((actor.getSnapshot() as { status: string }).status !== 'active') return;
  (actor as unknown as { _stop(): void })._stop();
}
