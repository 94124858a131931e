/**
 * BullMQ peer, Redis with durable persistence comparable to the engine's SQLite synchronous=FULL:
 * `--appendonly yes --appendfsync always --save ''`, data in a fresh temporary directory removed afterwards.
 */
import { runBullmq } from './bullmq.js';

runBullmq('bullmq-aof-noop', 'aof');
