import { TroupeError } from '../../core/errors.js';
import { githubEvent, gitlabEvent, type HookEvent } from '../../core/hook-events.js';
import { tokenMatches, verifyGithubSignature } from '../../core/webhook-signatures.js';
import type { HookSource } from '../../store/store.port.js';
import type { Api } from '../api-context.js';
import { parseJson, type HttpContext, type Reply, type RouteRegistrar } from '../http-kit.js';
import { parseQuery } from '../query.js';

const GITHUB_HEADERS = ['content-type', 'x-hub-signature-256', 'x-github-event', 'x-github-delivery'] as const;
const GITLAB_HEADERS = ['content-type', 'x-gitlab-token', 'x-gitlab-event', 'x-gitlab-event-uuid'] as const;

/** A header the delivery cannot do without: absent or odd, a 400 naming it (only ever after authentication). */
function header(ctx: HttpContext, name: string): string {
  const value = ctx.headers?.[name] ?? '';
  if (!/^[\x21-\x7e][\x20-\x7e]{0,99}$/.test(value)) {
    throw new TroupeError('VALIDATION_FAILED', `header ${name} is missing or not 1-100 printable characters`, {
      details: [{ path: `header:${name}`, message: 'required' }],
    });
  }
  return value.trim();
}

/**
 * Webhooks (SPEC §8). No bearer token: the signature or token is the authentication, and it is checked on the raw
 * body before anything is parsed or stored. They are outside the per-principal rate limit (there is no principal)
 * and bounded by TROUPE_MAX_BODY_BYTES like every body.
 */
export function hookRoutes(api: Api, route: RouteRegistrar): void {
  // WEBHOOK_SIGNATURE_VALIDATION=false trusts every delivery to a configured provider (a gateway in front has
  // checked it); the server warns at start.
  const checked = api.config.WEBHOOK_SIGNATURE_VALIDATION;
  const answer = async (
    ctx: HttpContext,
    source: HookSource,
    names: { event: string; delivery: string },
    parse: (name: string, payload: unknown) => HookEvent | null,
  ): Promise<Reply> => {
    const name = header(ctx, names.event);
    const delivery = header(ctx, names.delivery);
    const payload = parseJson(ctx.rawBody ?? Buffer.alloc(0), ctx.headers?.['content-type'] ?? '');
    if (payload === null || typeof payload !== 'object') {
      throw new TroupeError('VALIDATION_FAILED', `${name} payload: must be a JSON object`, { details: [{ path: '/', message: 'object required' }] });
    }
    const runs = await api.hooks.receive({ source, id: delivery, name, event: parse(name, payload) });
    return { status: 202, body: { delivery, runs } };
  };

  route('post', '/v1/hooks/github', 0, async (ctx) => {
    const secret = api.config.TROUPE_GITHUB_WEBHOOK_SECRET;
    if (secret === undefined) throw new TroupeError('NOT_FOUND', 'GitHub webhooks are not configured (TROUPE_GITHUB_WEBHOOK_SECRET)');
    if (checked && !verifyGithubSignature(secret, ctx.rawBody ?? Buffer.alloc(0), ctx.headers?.['x-hub-signature-256'])) {
      throw new TroupeError('UNAUTHENTICATED', 'X-Hub-Signature-256 is missing or does not sign this body');
    }
    parseQuery(ctx.query, {});
    return answer(ctx, 'github', { event: 'x-github-event', delivery: 'x-github-delivery' }, githubEvent);
  }, { rawBody: true, headers: GITHUB_HEADERS });

  route('post', '/v1/hooks/gitlab', 0, async (ctx) => {
    const token = api.config.TROUPE_GITLAB_WEBHOOK_TOKEN;
    if (token === undefined) throw new TroupeError('NOT_FOUND', 'GitLab webhooks are not configured (TROUPE_GITLAB_WEBHOOK_TOKEN)');
    if (checked && !tokenMatches(token, ctx.headers?.['x-gitlab-token'])) throw new TroupeError('UNAUTHENTICATED', 'X-Gitlab-Token is missing or wrong');
    parseQuery(ctx.query, {});
    return answer(ctx, 'gitlab', { event: 'x-gitlab-event', delivery: 'x-gitlab-event-uuid' }, gitlabEvent);
  }, { rawBody: true, headers: GITLAB_HEADERS });
}
