import { MemoryBus } from '../src/bus/memory.bus.js';
import { busContract } from './contract/bus.contract.js';

/** The bus contract against the in-process adapter of embedded mode. */
busContract('memory', (options) => Promise.resolve(new MemoryBus(options)));
