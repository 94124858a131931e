/**
 * The first SIGINT or SIGTERM from now on. Call it before announcing that the process is ready: a supervisor
 * (or a test) that signals as soon as it reads the announcement must meet this listener, not Node's default
 * action for a signal nobody listens to, which kills the process at once without a clean stop.
 */
export function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
