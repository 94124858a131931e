import { describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS, loadConfig } from '../../src/core/config.js';
import { TroupeError } from '../../src/core/errors.js';

describe('configuration', () => {
  it('applies the SPEC defaults to an empty environment and freezes the result', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      EXECUTION_MAX_CONCURRENT_JOBS: 50,
      EXECUTION_DEFAULT_TIMEOUT_MINUTES: 30,
      EXECUTION_RETRY_MAX_ATTEMPTS: 3,
      EXECUTION_RETRY_DELAY_SECONDS: 60,
      QUEUE_MAX_QUEUE_SIZE: 1000,
      API_RATE_LIMIT_PER_MINUTE: 100,
      TROUPE_DATA_DIR: CONFIG_DEFAULTS.TROUPE_DATA_DIR,
      WEBSOCKET_ENABLED: true,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('parses numbers and booleans from strings; empty strings count as unset', () => {
    const config = loadConfig({ EXECUTION_MAX_CONCURRENT_JOBS: '7', WEBSOCKET_ENABLED: 'false', PORT: '', NATS_URL: 'nats://127.0.0.1:4222' });
    expect(config.EXECUTION_MAX_CONCURRENT_JOBS).toBe(7);
    expect(config.WEBSOCKET_ENABLED).toBe(false);
    expect(config.PORT).toBe(8080);
    expect(config.NATS_URL).toBe('nats://127.0.0.1:4222');
  });

  it.each([
    ['EXECUTION_MAX_CONCURRENT_JOBS', 'many', 'must be a number'],
    ['EXECUTION_MAX_CONCURRENT_JOBS', '0', 'must be at least 1'],
    ['EXECUTION_RETRY_MAX_ATTEMPTS', '2.5', 'must be a whole number'],
    ['PORT', '70000', 'must be at most 65535'],
    ['WEBSOCKET_ENABLED', 'maybe', 'must be true or false'],
    ['LOGGING_LEVEL', 'loud', 'must be one of'],
    ['NATS_URL', 'not a url', 'must be nats://host:port'],
    ['NATS_URL', 'http://127.0.0.1:4222', 'must be nats://host:port'],
    ['TROUPE_POOL', 'a.b', 'must be 1-46 of'],
    ['TROUPE_AGENT_LABELS', 'browser', 'must be key=value pairs'],
    ['TROUPE_AGENT_LABELS', '=x', 'must be key=value pairs'],
    ['TROUPE_AGENT_ID', 'a b', 'must be 1-64 of'],
    ['TROUPE_MAX_DELIVER', '0', 'must be at least 1'],
    ['TROUPE_ACK_WAIT_SECONDS', 'soon', 'must be a number'],
    ['MONGODB_URL', 'postgres://x', 'must start with mongodb://'],
    ['TROUPE_JWT_SECRET', 'short', 'must be at least 32 characters'],
  ])('%s=%s is rejected with a message naming it', (name, value, message) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TroupeError);
    expect((error as TroupeError).code).toBe('CONFIG_INVALID');
    expect((error as TroupeError).message).toContain(`${name}: ${message}`);
  });

  it('takes several NATS servers and agent labels', () => {
    const config = loadConfig({ NATS_URL: 'nats://a:4222,nats://b:4222', TROUPE_AGENT_LABELS: 'browser=chromium, os=linux' });
    expect(config.NATS_URL).toBe('nats://a:4222,nats://b:4222');
    expect(config.TROUPE_AGENT_LABELS).toBe('browser=chromium, os=linux');
  });

  it('reports every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', QUEUE_MAX_QUEUE_SIZE: '-1' })).toThrow(/QUEUE_MAX_QUEUE_SIZE: .*\n.*PORT: /s);
  });
});
