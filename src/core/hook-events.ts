import { TroupeError } from './errors.js';

/**
 * What a webhook delivery says, in the terms triggers match on (SPEC §8): the event (`push`, `pull_request`,
 * `merge_request`), the repository (GitHub `owner/name`, GitLab `path_with_namespace`), the branch and the commit.
 */
export interface HookEvent {
  event: string;
  repository: string;
  branch: string;
  commit: string;
}

/** The trigger events each provider can start runs on. */
export const HOOK_EVENTS = { github: ['push', 'pull_request'], gitlab: ['push', 'merge_request'] } as const;

const PULL_REQUEST_ACTIONS = new Set(['opened', 'synchronize', 'reopened']);
const MERGE_REQUEST_ACTIONS = new Set(['open', 'reopen', 'update']);
const BRANCH_REF = 'refs/heads/';

/** The value at `path` in the payload when it is a non-empty string, else undefined. */
function text(payload: unknown, path: string): string | undefined {
  let value: unknown = payload;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A string field the event cannot do without: its absence is a 400 naming it. */
function required(payload: unknown, path: string, event: string): string {
  const value = text(payload, path);
  if (value === undefined) {
    throw new TroupeError('VALIDATION_FAILED', `${event} payload: ${path} is missing or not a string`, {
      details: [{ path: `/${path.replaceAll('.', '/')}`, message: 'required string' }],
    });
  }
  return value;
}

/** A pushed branch, or undefined for a tag or a branch deletion (they start nothing). */
function pushedBranch(ref: string, commit: string | undefined): string | undefined {
  if (!ref.startsWith(BRANCH_REF) || commit === undefined || /^0+$/.test(commit)) return undefined;
  return ref.slice(BRANCH_REF.length);
}

/**
 * A GitHub delivery (`X-GitHub-Event`) as a trigger event; null when it starts nothing: `ping`, a tag push, a
 * deleted branch, a pull request action other than opened / synchronize / reopened, any other event.
 */
export function githubEvent(name: string, payload: unknown): HookEvent | null {
  if (name === 'push') {
    const ref = required(payload, 'ref', name);
    const repository = required(payload, 'repository.full_name', name);
    const commit = text(payload, 'after');
    const branch = pushedBranch(ref, commit);
    return branch === undefined || commit === undefined ? null : { event: 'push', repository, branch, commit };
  }
  if (name === 'pull_request') {
    const action = required(payload, 'action', name);
    if (!PULL_REQUEST_ACTIONS.has(action)) return null;
    return {
      event: 'pull_request',
      repository: required(payload, 'repository.full_name', name),
      branch: required(payload, 'pull_request.head.ref', name),
      commit: required(payload, 'pull_request.head.sha', name),
    };
  }
  return null;
}

/**
 * A GitLab delivery (`X-Gitlab-Event`) as a trigger event; null when it starts nothing: tag pushes, a deleted
 * branch, a merge request closed or merged (or updated without new commits), any other event.
 */
export function gitlabEvent(name: string, payload: unknown): HookEvent | null {
  if (name === 'Push Hook') {
    const ref = required(payload, 'ref', name);
    const repository = required(payload, 'project.path_with_namespace', name);
    const commit = text(payload, 'checkout_sha');
    const branch = pushedBranch(ref, commit);
    return branch === undefined || commit === undefined ? null : { event: 'push', repository, branch, commit };
  }
  if (name === 'Merge Request Hook') {
    const action = text(payload, 'object_attributes.action');
    // An update without `oldrev` changed the title or labels, not the code.
    if (action === undefined || !MERGE_REQUEST_ACTIONS.has(action)) return null;
    if (action === 'update' && text(payload, 'object_attributes.oldrev') === undefined) return null;
    return {
      event: 'merge_request',
      repository: required(payload, 'project.path_with_namespace', name),
      branch: required(payload, 'object_attributes.source_branch', name),
      commit: required(payload, 'object_attributes.last_commit.id', name),
    };
  }
  return null;
}
