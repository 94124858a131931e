#!/usr/bin/env node
// Prints every execution that ends FAILED, as Troupe publishes it on troupe.events.<runId|_>.<executionId>.FAILED.
//
//   NATS_URL=nats://127.0.0.1:4222 node examples/nats-consumer.mjs            # live failures from now on
//   NATS_URL=nats://127.0.0.1:4222 node examples/nats-consumer.mjs --replay   # the stored ones first (24 h), then live
//   ... --count 1                                                             # exit after that many failures
//   ... --subject 'troupe.events.*.*.*'                                       # every transition instead
//
// Credentials: NATS_CREDS, NATS_USER + NATS_PASSWORD or NATS_TOKEN, as for Troupe itself (docs/nats.md).
import { parseArgs } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { connectFromEnv } from './nats-connect.mjs';

const { values } = parseArgs({
  options: {
    replay: { type: 'boolean', default: false },
    count: { type: 'string' },
    subject: { type: 'string', default: 'troupe.events.*.*.FAILED' },
  },
});
const limit = values.count === undefined ? Infinity : Number(values.count);

const nc = await connectFromEnv('troupe-example-failures');
let seen = 0;

/** A transition event: { type, executionId, runId, seq, from, to, event, at, attempt, reason, actor }. */
function print(subject, data) {
  const event = JSON.parse(new TextDecoder().decode(data));
  const run = event.runId ?? '-';
  console.log(
    `${new Date(event.at).toISOString()}  ${event.to.padEnd(9)} ${event.executionId}  run ${run}  attempt ${event.attempt}` +
      `  by ${event.actor}${event.reason ? `  reason: ${event.reason}` : ''}  (${subject})`,
  );
  seen += 1;
  return seen >= limit;
}

const stop = async () => {
  await nc.drain();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

if (values.replay) {
  // An ordered consumer on the events stream: an ephemeral, flow-controlled reader that starts at the oldest
  // stored event and keeps following new ones. Nothing is created that would outlive this process. (One
  // subject as a string: nats-server before 2.10 takes a single filter subject only.)
  const consumer = await jetstream(nc).consumers.get('TROUPE_EVENTS', { filter_subjects: values.subject });
  console.error(`replaying ${values.subject} from TROUPE_EVENTS, then following (Ctrl-C to stop)`);
  for await (const msg of await consumer.consume()) {
    if (print(msg.subject, msg.data)) break;
  }
} else {
  // A plain subscription: live only, nothing stored for it, no acknowledgements.
  const sub = nc.subscribe(values.subject);
  console.error(`listening on ${values.subject} (Ctrl-C to stop)`);
  for await (const msg of sub) {
    if (print(msg.subject, msg.data)) break;
  }
}
await stop();
