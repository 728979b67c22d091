/**
 * edge (node:http): the API the devices call. Three request classes, each under its own deadline:
 *
 * - `GET /home` — app boot: session, profile, plan, the rows of the home page with their artwork.
 * - `GET /title/:id` — a title's page: summary (EVCache, then metadata), details, the member's
 *   predicted rating, artwork, resume position, My List, "More like this".
 * - `POST /play/:id` — start playback: session, title, a licence (critical), a bookmark.
 *
 * auth is critical everywhere and licensing is critical for /play: when they fail the edge answers
 * a clean 503 (or 401) with a message. Every other dependency has a timeout and a fallback, so the
 * page degrades instead of failing. Telemetry is fire-and-forget.
 */
import http from 'node:http';
import { wrapRequestListener } from '@labcoat/node';
import {
  bulkhead,
  circuitBreaker,
  constantBackoff,
  ConsecutiveBreaker,
  CountBreaker,
  exponentialBackoff,
  fallback,
  hedging,
  retry,
  RetryBudget,
  timeout,
  wrap,
  type BasePolicy,
  type FallbackFn,
  type PolicyFn,
} from '@labcoat/node/policies';
import { bugOn } from './lib/bugs.js';
import { describe, fetchJson, handleTransient, HttpError, httpJson } from './lib/clients.js';
import { STATIC_PICKS, TITLES, type Session, type Title } from './lib/data.js';
import { EVCache } from './lib/evcache.js';
import { listen, ready, startLabcoat, urlOf } from './lib/service.js';

const labcoat = startLabcoat('edge');
const U = Object.fromEntries(
  ['auth', 'profiles', 'subscriptions', 'recommendations', 'trending', 'bookmarks', 'mylist', 'artwork', 'telemetry', 'metadata', 'ratings', 'licensing'].map((s) => [s, urlOf(s)]),
) as Record<string, string>;

/** The edge's own deadline per request class: past it, the answer is a 504. */
export const DEADLINES = { home: 900, title: 700, play: 700 } as const;
type RequestClass = keyof typeof DEADLINES;
const PLACEHOLDER_ART = 'https://img.example.net/boxart/placeholder/342x192.jpg';

/** A request the edge refuses on purpose: a critical dependency failed, or the request is wrong. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly critical?: string,
  ) {
    super(message);
  }
}

// ---- policies: one per dependency, shared by all requests (breakers need the shared history) ----

const authPolicy = wrap(retry({ maxAttempts: 2, backoff: constantBackoff(10), handle: handleTransient, maxRetryAfterMs: 50 }), timeout(150), { name: 'auth' });
const profilesPolicy = wrap(circuitBreaker({ breaker: new ConsecutiveBreaker(10), halfOpenAfter: 1000, name: 'profiles-breaker' }), timeout(150), { name: 'profiles' });
const subscriptionsPolicy = wrap(
  circuitBreaker({ breaker: new CountBreaker({ size: 20, minimumCalls: 10, failureRateThreshold: 0.5 }), halfOpenAfter: 1000, name: 'subscriptions-breaker' }),
  timeout(150),
  { name: 'subscriptions' },
);
const recsPolicy = wrap(circuitBreaker({ breaker: new ConsecutiveBreaker(10), halfOpenAfter: 1000, name: 'recommendations-breaker' }), timeout(350), { name: 'recommendations' });
const rowPolicy = timeout({ timeoutMs: 150, name: 'row' });
const artworkBatchPolicy = wrap(timeout(250), hedging({ delayMs: 60, maxAttempts: 2 }), { name: 'artwork-batch' });
const artworkPolicy = timeout({ timeoutMs: 150, name: 'artwork' });
const metadataPolicy = wrap(
  bulkhead({ maxConcurrent: 8, maxQueue: 16, queueTimeoutMs: 100 }),
  retry({ maxAttempts: 2, backoff: constantBackoff(10), handle: handleTransient, maxRetryAfterMs: 50 }),
  timeout(150),
  { name: 'metadata' },
);
const detailsPolicy = timeout({ timeoutMs: 150, name: 'details' });
const similarPolicy = timeout({ timeoutMs: 300, name: 'similar' });
const licensingPolicy = timeout({ timeoutMs: 400, name: 'licensing' });
const ratingsBudget = new RetryBudget({ ratio: 0.2, minRetriesPerSec: 5, windowMs: 2000 });
// BUG retry-storm: 4 unbudgeted attempts of up to 300 ms each and no cap on the whole, on top of
// the ratings service's own retries (see ratings.ts). Fixed: one retry, budgeted, 250 ms in all.
const ratingsPolicy: BasePolicy = bugOn('retry-storm')
  ? wrap(retry({ maxAttempts: 4, backoff: exponentialBackoff({ initialDelayMs: 40, maxDelayMs: 400, jitter: 'none' }), handle: handleTransient, maxRetryAfterMs: 100 }), timeout(300), { name: 'ratings' })
  : wrap(timeout(250), retry({ maxAttempts: 2, backoff: constantBackoff(20), handle: handleTransient, budget: ratingsBudget, maxRetryAfterMs: 50 }), timeout(120), { name: 'ratings' });

const titles = new EVCache({ app: 'titles', localZone: 'a' });

/** Runs `fn` under `policy`, answering `orElse(reason)` when it fails (recorded as a fallback on the policy span). */
function withFallback<T>(policy: BasePolicy, fn: PolicyFn<T>, orElse: FallbackFn<T>, signal: AbortSignal): Promise<T> {
  return wrap(fallback(orElse, { name: `${policy.name}-fallback` }), policy, { name: policy.name }).execute(fn, signal);
}

// ---- the calls -----------------------------------------------------------------------------------

async function session(req: http.IncomingMessage, signal: AbortSignal): Promise<Session> {
  const authorization = req.headers.authorization ?? '';
  try {
    return await authPolicy.execute(({ signal: s }) => fetchJson<Session>('auth', `${U['auth']}/session`, { signal: s, headers: { authorization } }), signal);
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) throw new Refusal(401, 'sign in first: the session token is missing or unknown');
    throw new Refusal(503, `authentication unavailable (${describe(e)}); try again shortly`, 'auth');
  }
}

/** A title summary: EVCache (zone a, then b, c), then metadata (the source of truth). */
async function titleSummary(id: string, signal: AbortSignal, steps: string[]): Promise<Title> {
  const key = `titles:${id}`;
  let notFound = false;
  const found = await titles.getOrLoad(
    [key],
    async (_missing, s) => {
      try {
        const t = await metadataPolicy.execute(({ signal: x }) => fetchJson<Title>('metadata', `${U['metadata']}/titles/${id}`, { signal: x }), s);
        return new Map([[key, JSON.stringify(t)]]);
      } catch (e) {
        if (e instanceof HttpError && e.status === 404) notFound = true;
        return new Map();
      }
    },
    signal,
    { steps },
  );
  const v = found.get(key);
  if (v === undefined) throw notFound ? new Refusal(404, `no title ${id}`) : new Refusal(503, `title ${id} is unavailable: cache and metadata failed`);
  return JSON.parse(v) as Title;
}

function sendTelemetry(event: Record<string, unknown>, signal?: AbortSignal): Promise<unknown> {
  return fetchJson('telemetry', `${U['telemetry']}/events`, { method: 'POST', body: { ...event, at: Date.now() }, ...(signal ? { signal } : {}) });
}

/** Fire and forget: never awaited, bounded by its own timeout, errors ignored. */
function fireTelemetry(event: Record<string, unknown>): void {
  sendTelemetry(event, AbortSignal.timeout(200)).catch(() => {});
}

interface Item {
  id: string;
  title: string;
  artwork?: string;
}
interface Row {
  id: string;
  name: string;
  source?: string;
  items: Item[];
}

// ---- request classes -----------------------------------------------------------------------------

async function home(req: http.IncomingMessage, signal: AbortSignal): Promise<unknown> {
  const s = await session(req, signal);
  const degraded: string[] = [];
  const note = (what: string) => (reason: unknown) => {
    degraded.push(`${what}: ${describe('error' in (reason as object) ? (reason as { error: unknown }).error : 'bad answer')}`);
  };

  const profileP = withFallback(
    profilesPolicy,
    ({ signal: x }) => httpJson<{ id: string; name: string; language: string; avatar: string | null }>('profiles', `${U['profiles']}/profiles/${s.profileId}`, { signal: x }),
    (r) => (note('profile')(r), { id: s.profileId, name: s.profileName, language: 'en', avatar: null }),
    signal,
  );
  const planP = withFallback(
    subscriptionsPolicy,
    async ({ signal: x }) => (await fetchJson<{ plan: string }>('subscriptions', `${U['subscriptions']}/subscriptions/${s.userId}`, { signal: x })).plan,
    // BUG fallback-same-replica: the "fallback" asks the same subscriptions instance again.
    bugOn('fallback-same-replica')
      ? async (_r, ctx) => (await fetchJson<{ plan: string }>('subscriptions', `${U['subscriptions']}/subscriptions/${s.userId}`, { signal: ctx.signal })).plan
      : (r) => (note('plan')(r), s.plan),
    signal,
  );
  const trendingP = withFallback<Row | null>(
    rowPolicy,
    async ({ signal: x }) => ({ id: 'trending', name: 'Trending now', items: (await httpJson<{ items: Item[] }>('trending', `${U['trending']}/trending`, { signal: x })).items }),
    (r) => (note('trending')(r), null),
    signal,
  );
  const picksP = withFallback<Row>(
    recsPolicy,
    async ({ signal: x }) => {
      const r = await fetchJson<{ source: string; items: Item[] }>('recommendations', `${U['recommendations']}/recommendations/${s.profileId}`, { signal: x });
      return { id: 'picks', name: `Top picks for ${s.profileName}`, source: r.source, items: r.items };
    },
    async (r) => {
      note('recommendations')(r);
      const trending = await trendingP;
      if (trending) return { id: 'picks', name: `Top picks for ${s.profileName}`, source: 'trending', items: trending.items };
      return { id: 'picks', name: `Top picks for ${s.profileName}`, source: 'static', items: STATIC_PICKS.map((id) => ({ id, title: TITLES.get(id)!.title })) };
    },
    signal,
  );
  const continueFetch: PolicyFn<Row | null> = async ({ signal: x }) => ({
    id: 'continue',
    name: 'Continue watching',
    items: (await httpJson<{ items: Item[] }>('bookmarks', `${U['bookmarks']}/bookmarks/${s.profileId}`, { signal: x })).items,
  });
  // BUG optional-no-fallback: "Continue watching" is optional, but its call has no fallback: when
  // bookmarks fails, the whole home page fails with it.
  const continueP = bugOn('optional-no-fallback') ? rowPolicy.execute(continueFetch, signal) : withFallback(rowPolicy, continueFetch, (r) => (note('continue')(r), null), signal);
  const myListP = withFallback<Row | null>(
    rowPolicy,
    async ({ signal: x }) => ({ id: 'mylist', name: 'My List', items: (await fetchJson<{ items: Item[] }>('mylist', `${U['mylist']}/mylist/${s.profileId}`, { signal: x })).items }),
    (r) => (note('mylist')(r), null),
    signal,
  );

  const [profile, plan, picks, trending, cont, myList] = await Promise.all([profileP, planP, picksP, trendingP, continueP, myListP]);
  const rows = [picks, trending, cont, myList].filter((r): r is Row => r !== null && r.items.length > 0);
  const ids = [...new Set(rows.flatMap((r) => r.items.map((i) => i.id)))];
  const art = await withFallback(
    artworkBatchPolicy,
    async ({ signal: x }) => (await fetchJson<{ artwork: Record<string, string> }>('artwork', `${U['artwork']}/artwork/batch`, { method: 'POST', body: { ids }, signal: x })).artwork,
    (r) => (note('artwork')(r), {} as Record<string, string>),
    signal,
  );
  for (const row of rows) for (const item of row.items) item.artwork = art[item.id] ?? PLACEHOLDER_ART;
  fireTelemetry({ type: 'home', profileId: s.profileId, rows: rows.map((r) => r.id) });
  return { profile: { id: profile.id, name: profile.name, language: profile.language, avatar: profile.avatar }, plan, rows, degraded };
}

async function title(req: http.IncomingMessage, id: string, signal: AbortSignal): Promise<unknown> {
  const s = await session(req, signal);
  const degraded: string[] = [];
  const note = (what: string) => (reason: unknown) => {
    degraded.push(`${what}: ${describe('error' in (reason as object) ? (reason as { error: unknown }).error : 'bad answer')}`);
  };
  const cache: string[] = [];
  const summaryP = titleSummary(id, signal, cache);
  summaryP.catch(() => {});
  const detailsP = withFallback(
    detailsPolicy,
    ({ signal: x }) => httpJson<{ synopsis: string; cast: string[]; runtimeMin: number }>('metadata', `${U['metadata']}/titles/${id}/details`, { signal: x }),
    (r) => (note('details')(r), null),
    signal,
  );
  const ratingP = withFallback(
    ratingsPolicy,
    async ({ signal: x }) => {
      const r = await fetchJson<{ stars: number }>('ratings', `${U['ratings']}/ratings/${id}?profile=${s.profileId}`, { signal: x });
      return { stars: r.stars, source: 'predicted' };
    },
    async (r) => (note('rating')(r), { stars: (await summaryP).avgRating, source: 'average' }),
    signal,
  );
  const artworkP = withFallback(
    artworkPolicy,
    async ({ signal: x }) => (await fetchJson<{ url: string }>('artwork', `${U['artwork']}/artwork/${id}`, { signal: x })).url,
    (r) => (note('artwork')(r), PLACEHOLDER_ART),
    signal,
  );
  const resumeP = withFallback<number | null>(
    rowPolicy,
    async ({ signal: x }) => (await httpJson<{ positionSec: number }>('bookmarks', `${U['bookmarks']}/bookmarks/${s.profileId}/titles/${id}`, { signal: x })).positionSec,
    (r) => (note('resume')(r), null),
    signal,
  );
  const inListP = withFallback<boolean | null>(
    rowPolicy,
    async ({ signal: x }) => (await fetchJson<{ items: Item[] }>('mylist', `${U['mylist']}/mylist/${s.profileId}`, { signal: x })).items.some((i) => i.id === id),
    (r) => (note('mylist')(r), null),
    signal,
  );
  const similarP = withFallback<Item[]>(
    similarPolicy,
    async ({ signal: x }) => (await fetchJson<{ items: Item[] }>('recommendations', `${U['recommendations']}/similar/${id}`, { signal: x })).items,
    (r) => (note('similar')(r), []),
    signal,
  );
  const [summary, details, rating, artwork, resumeAtSec, inMyList, similar] = await Promise.all([summaryP, detailsP, ratingP, artworkP, resumeP, inListP, similarP]);
  fireTelemetry({ type: 'title', profileId: s.profileId, titleId: id });
  return { ...summary, details, rating, artwork, resumeAtSec, inMyList, similar, cache, degraded };
}

async function play(req: http.IncomingMessage, id: string, signal: AbortSignal): Promise<unknown> {
  const s = await session(req, signal);
  const cache: string[] = [];
  const summaryP = titleSummary(id, signal, cache);
  summaryP.catch(() => {});
  const licenseP = licensingPolicy
    .execute(
      ({ signal: x }) =>
        fetchJson<{ keyId: string; license: string; maxResolution: string; expiresAt: number; entitlementFrom: string }>('licensing', `${U['licensing']}/licenses/${id}`, {
          method: 'POST',
          body: { userId: s.userId, profileId: s.profileId, plan: s.plan },
          signal: x,
        }),
      signal,
    )
    .catch((e: unknown) => {
      if (e instanceof HttpError && e.status === 403) throw new Refusal(403, 'this plan does not include playback');
      if (e instanceof HttpError && e.status === 404) throw new Refusal(404, `no title ${id}`);
      throw new Refusal(503, `playback unavailable: licensing failed (${describe(e)})`, 'licensing');
    });
  licenseP.catch(() => {});
  const bookmarkP = withFallback(
    rowPolicy,
    async ({ signal: x }) => (await httpJson<{ recorded: boolean }>('bookmarks', `${U['bookmarks']}/bookmarks/${s.profileId}/titles/${id}`, { method: 'POST', body: {}, signal: x })).recorded,
    () => false,
    signal,
  );
  const [summary, license, bookmarked] = await Promise.all([summaryP, licenseP, bookmarkP]);
  const event = { type: 'play', profileId: s.profileId, titleId: id };
  // BUG telemetry-blocks-play: "playback events are important", so someone awaited this one, with no
  // timeout of its own (only the request's deadline ends it): the member's play button waits for telemetry.
  if (bugOn('telemetry-blocks-play')) await sendTelemetry(event, signal).catch(() => {});
  else fireTelemetry(event);
  return {
    titleId: id,
    title: summary.title,
    license: { keyId: license.keyId, license: license.license, maxResolution: license.maxResolution, expiresAt: license.expiresAt, entitlementFrom: license.entitlementFrom },
    manifest: `https://cdn.example.net/manifests/${id}/main.mpd`,
    bookmarked,
    cache,
  };
}

// ---- the server ----------------------------------------------------------------------------------

function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

const server = http.createServer(
  wrapRequestListener((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    let cls: RequestClass;
    let run: (signal: AbortSignal) => Promise<unknown>;
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && path === '/home') {
      cls = 'home';
      run = (signal) => home(req, signal);
    } else if (req.method === 'GET' && (m = /^\/title\/(\d+)$/.exec(path))) {
      const id = m[1]!;
      cls = 'title';
      run = (signal) => title(req, id, signal);
    } else if (req.method === 'POST' && (m = /^\/play\/(\d+)$/.exec(path))) {
      const id = m[1]!;
      cls = 'play';
      run = (signal) => play(req, id, signal);
    } else if (req.method === 'GET' && path === '/health') {
      return send(res, 200, { ok: true });
    } else {
      return send(res, 404, { error: 'not found: GET /home, GET /title/:id, POST /play/:id' });
    }
    req.resume();
    const started = Date.now();
    const controller = new AbortController();
    const deadlineMs = DEADLINES[cls];
    const timer = setTimeout(() => {
      controller.abort(new Refusal(504, `deadline exceeded: ${cls} must answer within ${deadlineMs} ms`));
      send(res, 504, { error: `deadline exceeded: ${cls} must answer within ${deadlineMs} ms` });
    }, deadlineMs);
    run(controller.signal).then(
      (body) => send(res, 200, body),
      (e: unknown) => {
        if (e instanceof Refusal) send(res, e.status, { error: e.message, ...(e.critical ? { critical: e.critical } : {}) });
        else send(res, 502, { error: `internal error after ${Date.now() - started} ms: ${describe(e)}` });
      },
    ).finally(() => clearTimeout(timer));
  }),
);

await listen(server);
ready('edge', server, labcoat);
