/**
 * Piscina worker entry. Imports only runner code and the message protocol (never the logger, store or bus).
 */
import { RUNNERS } from '../runners/registry.js';
import { createTaskHandler } from './task-handler.js';

export default createTaskHandler(RUNNERS);
