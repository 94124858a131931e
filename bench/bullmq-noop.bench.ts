/** BullMQ peer, Redis without persistence (`--save '' --appendonly no`). */
import { runBullmq } from './bullmq.js';

runBullmq('bullmq-noop', 'none');
