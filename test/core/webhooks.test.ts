import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { githubEvent, gitlabEvent } from '../../src/core/hook-events.js';
import { githubSignature, notificationSignature, tokenMatches, verifyGithubSignature } from '../../src/core/webhook-signatures.js';

describe('webhook signatures', () => {
  it("GitHub's published test vector verifies, and computes to the published value", () => {
    const key = "It's a Secret to Everybody";
    const vector = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(githubSignature(key, 'Hello, World!')).toBe(vector);
    expect(verifyGithubSignature(key, Buffer.from('Hello, World!'), vector)).toBe(true);
  });

  it('refuses another key, another body, a truncated or malformed signature, and none at all', () => {
    const key = "It's a Secret to Everybody";
    const good = githubSignature(key, 'Hello, World!');
    expect(verifyGithubSignature('another key', 'Hello, World!', good)).toBe(false);
    expect(verifyGithubSignature(key, 'Hello, World?', good)).toBe(false);
    expect(verifyGithubSignature(key, 'Hello, World!', good.slice(0, -2))).toBe(false);
    expect(verifyGithubSignature(key, 'Hello, World!', good.replace('sha256=', 'sha1='))).toBe(false);
    expect(verifyGithubSignature(key, 'Hello, World!', `${good}00`)).toBe(false);
    expect(verifyGithubSignature(key, 'Hello, World!', '')).toBe(false);
    expect(verifyGithubSignature(key, 'Hello, World!', undefined)).toBe(false);
  });

  it('GitLab tokens match only exactly', () => {
    expect(tokenMatches('gl-token-123', 'gl-token-123')).toBe(true);
    expect(tokenMatches('gl-token-123', 'gl-token-124')).toBe(false);
    expect(tokenMatches('gl-token-123', 'gl-token-1234')).toBe(false);
    expect(tokenMatches('gl-token-123', '')).toBe(false);
    expect(tokenMatches('gl-token-123', undefined)).toBe(false);
  });

  it('a notification signature is t=<seconds>,v1=<HMAC of "<t>.<body>">, as a receiver recomputes it', () => {
    const body = '{"run":{"id":"run_1"}}';
    const header = notificationSignature('notify-secret-0123456789', 1_700_000_000, body);
    const mac = createHmac('sha256', 'notify-secret-0123456789').update(`1700000000.${body}`).digest('hex');
    expect(header).toBe(`t=1700000000,v1=${mac}`);
  });
});

describe('webhook payloads as trigger events', () => {
  const repository = { full_name: 'acme/shop' };

  it('GitHub push: branch from refs/heads/, commit `after`; tags and deleted branches start nothing', () => {
    expect(githubEvent('push', { ref: 'refs/heads/release/1.2', after: 'abc123', repository })).toEqual({
      event: 'push', repository: 'acme/shop', branch: 'release/1.2', commit: 'abc123',
    });
    expect(githubEvent('push', { ref: 'refs/tags/v1.0', after: 'abc123', repository })).toBeNull();
    expect(githubEvent('push', { ref: 'refs/heads/gone', after: '0'.repeat(40), deleted: true, repository })).toBeNull();
    expect(() => githubEvent('push', { ref: 'refs/heads/main', after: 'abc' })).toThrow(/repository\.full_name/);
  });

  it('GitHub pull_request: opened, synchronize and reopened start runs on the head branch; other actions and ping do not', () => {
    const pr = (action: string) => ({ action, repository, pull_request: { head: { ref: 'feature/x', sha: 'def456' } } });
    for (const action of ['opened', 'synchronize', 'reopened']) {
      expect(githubEvent('pull_request', pr(action))).toEqual({ event: 'pull_request', repository: 'acme/shop', branch: 'feature/x', commit: 'def456' });
    }
    expect(githubEvent('pull_request', pr('closed'))).toBeNull();
    expect(githubEvent('ping', { zen: 'Design for failure.' })).toBeNull();
    expect(githubEvent('issues', { action: 'opened', repository })).toBeNull();
  });

  it('GitLab push and merge request: the fields SPEC §8 names; tags, deletions and title edits start nothing', () => {
    const project = { path_with_namespace: 'group/sub/shop' };
    expect(gitlabEvent('Push Hook', { ref: 'refs/heads/main', checkout_sha: 'aaa', project })).toEqual({
      event: 'push', repository: 'group/sub/shop', branch: 'main', commit: 'aaa',
    });
    expect(gitlabEvent('Push Hook', { ref: 'refs/heads/main', checkout_sha: null, project })).toBeNull();
    expect(gitlabEvent('Tag Push Hook', { ref: 'refs/tags/v1', checkout_sha: 'aaa', project })).toBeNull();
    const mr = (attrs: Record<string, unknown>) => ({
      project,
      object_attributes: { source_branch: 'feature/y', last_commit: { id: 'bbb' }, ...attrs },
    });
    const started = { event: 'merge_request', repository: 'group/sub/shop', branch: 'feature/y', commit: 'bbb' };
    expect(gitlabEvent('Merge Request Hook', mr({ action: 'open' }))).toEqual(started);
    expect(gitlabEvent('Merge Request Hook', mr({ action: 'update', oldrev: 'aaa' }))).toEqual(started);
    expect(gitlabEvent('Merge Request Hook', mr({ action: 'update' }))).toBeNull();
    expect(gitlabEvent('Merge Request Hook', mr({ action: 'merge' }))).toBeNull();
  });
});
