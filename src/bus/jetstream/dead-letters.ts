import type { JetStreamManager } from '@nats-io/jetstream';
import type { DeadLetter } from '../bus.port.js';
import type { Names } from './names.js';
import { decodeJson } from './pull-consumer.js';

export interface StoredDeadLetter {
  seq: number;
  letter: DeadLetter;
}

/**
 * Reads the dead-letter stream from its first message to its last, oldest first, with direct gets
 * (`next_by_subj` skips deleted sequences). Dead letters are few; a stream of thousands is read in as many
 * requests, which is acceptable for an operator's listing.
 */
export async function findDeadLetters(
  jsm: JetStreamManager,
  n: Names,
  match: (letter: DeadLetter) => boolean = () => true,
): Promise<StoredDeadLetter[]> {
  const { state } = await jsm.streams.info(n.streams.dead);
  const found: StoredDeadLetter[] = [];
  if (state.messages === 0) return found;
  for (let seq = state.first_seq; seq <= state.last_seq; ) {
    const msg = await jsm.direct.getMessage(n.streams.dead, { seq, next_by_subj: n.all.dead });
    if (!msg) break;
    try {
      const letter = decodeJson<DeadLetter>(msg.data);
      if (match(letter)) found.push({ seq: msg.seq, letter });
    } catch {
      // Not a dead letter we wrote: skip it.
    }
    seq = msg.seq + 1;
  }
  return found;
}
