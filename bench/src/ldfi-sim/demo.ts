/**
 * The demo system (examples/streaming) as a simulated topology, one system per request class
 * (home, title, play), with every bug on, modelled from its sources (src/edge.ts and the services,
 * src/lib/evcache.ts) and README: the same point ids, the same policies and timeouts (values of
 * `--bugs all`), the same fallbacks and the same deadlines. What the model leaves out: circuit
 * breakers, the retry and hedge budgets and the bulkhead carry state across requests (they only
 * ever make a request fall back sooner); latencies are 1 ms per hop; a store's answer is never
 * malformed (the explored modes are error, 503 and hang).
 *
 * Each planted bug's fault sets come from examples/streaming/bugs.json; `demoSystems` checks that
 * every one of them fails its class in the model.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { faultAtom } from '@labcoat/core';
import { simulate, type PlantedBug, type SimCall, type SimPolicy, type SimService, type SimStep, type SimSystem } from './model.js';

const http = (point: string, target: string, policy?: SimPolicy, extra: Partial<SimCall> = {}): SimCall => ({ point, target, kind: 'http', ...(policy ? { policy } : {}), ...extra });
const store = (point: string, policy?: SimPolicy, extra: Partial<SimCall> = {}): SimCall => ({ point, target: point.split('->')[1]!.split(' ')[0]!, kind: 'store', ...(policy ? { policy } : {}), ...extra });
const timeout = (name: string, ms: number): SimPolicy => ({ name, kinds: ['timeout'], timeoutMs: ms });
/** withFallback(policy, …): a fallback outside the dependency's own policy. */
const guarded = (name: string, ms: number, kinds: readonly string[] = ['fallback', 'timeout'], fallback: SimPolicy['fallback'] = 'static'): SimPolicy => ({ name, kinds, timeoutMs: ms, fallback });
const svc = (name: string, steps: readonly SimStep[], extra: Partial<SimService> = {}): SimService => ({ name, route: `/${name}`, latencyMs: 1, calls: [], steps, ...extra });

/** A cache read (EVCache): the zones in order, then the source, whose answer is written back to every zone (not awaited). */
function cacheRead(caller: string, app: string, zones: readonly string[], source: SimCall): SimStep {
  const [local, ...others] = zones;
  return {
    firstOf: [
      store(`${caller}->evcache-${local} get ${app}`, timeout(`evcache-${app}-read`, 60)),
      // BUG evcache-fallback-no-timeout: the other zones are read without the 60 ms timeout.
      ...others.map((z) => store(`${caller}->evcache-${z} get ${app}`)),
      { attempt: [source, ...zones.map((z) => store(`${caller}->evcache-${z} set ${app}`, undefined, { optional: 'background' as const }))] },
    ],
  };
}

function services(): Map<string, SimService> {
  const list: SimService[] = [
    svc('auth', [{ attempt: [store('auth->session-store get sessions')], timeoutMs: 50 }]),
    // BUG swallowed-error: a database error answers 200 with a default profile.
    svc('profiles', [store('profiles->profiles-db get profiles', timeout('profiles-db', 60))], { swallow: true }),
    svc('subscriptions', [store('subscriptions->billing-db get subscriptions', timeout('billing-db', 60))]),
    svc('trending', []),
    svc('mylist', [store('mylist->mylist-db get mylist', timeout('mylist-db', 60))]),
    svc('bookmarks:list', [store('bookmarks->bookmarks-db get bookmarks', timeout('bookmarks-db', 60))]),
    svc('bookmarks:one', [store('bookmarks->bookmarks-db get bookmarks', timeout('bookmarks-db', 60))]),
    svc('bookmarks:put', [store('bookmarks->bookmarks-db put bookmarks', timeout('bookmarks-db', 60))]),
    svc('telemetry', [store('telemetry->events-queue publish events', timeout('events-queue', 50))]),
    svc('metadata:title', [store('metadata->metadata-store get titles', timeout('metadata-store', 80))]),
    svc('metadata:titles', [store('metadata->metadata-store get titles', timeout('metadata-store', 80))]),
    svc('metadata:details', [store('metadata->metadata-store get details', timeout('metadata-store', 80))]),
    svc('metadata:artwork', [store('metadata->metadata-store get artwork', timeout('metadata-store', 80))]),
    // BUG retry-storm: the database read retries 4 times (exponential backoff, no budget).
    ...(['ratings', 'predictions'] as const).map((route) =>
      svc(`ratings:${route}`, [store(`ratings->ratings-db get ${route}`, { name: 'ratings-db', kinds: ['retry', 'timeout'], retries: 3, backoffMs: [40, 80, 160], timeoutMs: 60 })]),
    ),
    // BUG nested-timeouts: the entitlement check waits up to 1.5 s; the edge gives licensing 400 ms.
    svc('licensing', [
      http('licensing->subscriptions GET /subscriptions/:id', 'subscriptions', guarded('entitlement', 1500)),
      store('licensing->keystore get keys', timeout('keystore', 50)),
    ]),
    svc('recommendations:recs', [
      {
        attempt: [
          store('recommendations->recs-model get personalized', timeout('recs-model', 40)),
          http('recommendations->ratings GET /predictions/:id', 'ratings:predictions', timeout('ratings', 100)),
          cacheRead('recommendations', 'titles', ['c', 'a', 'b'], http('recommendations->metadata GET /titles', 'metadata:titles', timeout('metadata', 100))),
        ],
        timeoutMs: 250,
        orElse: http('recommendations->trending GET /trending', 'trending', timeout('trending', 100)),
      },
    ]),
    svc('recommendations:similar', [
      {
        attempt: [
          store('recommendations->recs-model get similar', timeout('recs-model', 40)),
          cacheRead('recommendations', 'titles', ['c', 'a', 'b'], http('recommendations->metadata GET /titles', 'metadata:titles', timeout('metadata', 100))),
        ],
        timeoutMs: 250,
      },
    ]),
    ...(['batch', 'one'] as const).map((route) =>
      svc(`artwork:${route}`, [
        { attempt: [cacheRead('artwork', 'artwork', ['b', 'c', 'a'], http('artwork->metadata GET /artwork/:id', 'metadata:artwork', timeout('metadata', 100)))], timeoutMs: 250 },
      ]),
    ),
  ];
  return new Map(list.map((s) => [s.name, s]));
}

const session = http('edge->auth GET /session', 'auth', { name: 'auth', kinds: ['retry', 'timeout'], retries: 1, backoffMs: 10, timeoutMs: 150 });
const breaker = ['fallback', 'circuit-breaker', 'timeout'];
const titleSummary = cacheRead('edge', 'titles', ['a', 'b', 'c'], http('edge->metadata GET /titles/:id', 'metadata:title', { name: 'metadata', kinds: ['bulkhead', 'retry', 'timeout'], retries: 1, backoffMs: 10, timeoutMs: 150 }));
const telemetry = http('edge->telemetry POST /events', 'telemetry', undefined, { optional: 'background' });

const EDGES: Record<'home' | 'title' | 'play', { deadlineMs: number; steps: SimStep[] }> = {
  home: {
    deadlineMs: 900,
    steps: [
      session,
      {
        all: [
          http('edge->profiles GET /profiles/:id', 'profiles', guarded('profiles', 150, breaker)),
          // BUG fallback-same-replica: the fallback asks the same subscriptions instance again.
          http('edge->subscriptions GET /subscriptions/:id', 'subscriptions', guarded('subscriptions', 150, breaker, http('edge->subscriptions GET /subscriptions/:id', 'subscriptions'))),
          http('edge->trending GET /trending', 'trending', guarded('row', 150)),
          http('edge->recommendations GET /recommendations/:id', 'recommendations:recs', guarded('recommendations', 350, breaker)),
          // BUG optional-no-fallback: "Continue watching" has a timeout and no fallback.
          http('edge->bookmarks GET /bookmarks/:id', 'bookmarks:list', timeout('row', 150)),
          http('edge->mylist GET /mylist/:id', 'mylist', guarded('row', 150)),
        ],
      },
      http('edge->artwork POST /artwork/batch', 'artwork:batch', { name: 'artwork-batch', kinds: ['fallback', 'timeout', 'hedging'], totalTimeoutMs: 250, hedge: { delayMs: 60 }, fallback: 'static' }),
      telemetry,
    ],
  },
  title: {
    deadlineMs: 700,
    steps: [
      session,
      {
        all: [
          titleSummary,
          http('edge->metadata GET /titles/:id/details', 'metadata:details', guarded('details', 150)),
          // BUG retry-storm: 4 unbudgeted attempts of up to 300 ms each, no cap on the whole.
          http('edge->ratings GET /ratings/:id', 'ratings:ratings', { name: 'ratings', kinds: ['fallback', 'retry', 'timeout'], retries: 3, backoffMs: [40, 80, 160], timeoutMs: 300, fallback: 'static' }),
          http('edge->artwork GET /artwork/:id', 'artwork:one', guarded('artwork', 150)),
          http('edge->bookmarks GET /bookmarks/:id/titles/:id', 'bookmarks:one', guarded('row', 150)),
          http('edge->mylist GET /mylist/:id', 'mylist', guarded('row', 150)),
          http('edge->recommendations GET /similar/:id', 'recommendations:similar', guarded('similar', 300)),
        ],
      },
      telemetry,
    ],
  },
  play: {
    deadlineMs: 700,
    steps: [
      session,
      {
        all: [
          titleSummary,
          http('edge->licensing POST /licenses/:id', 'licensing', timeout('licensing', 400)),
          http('edge->bookmarks POST /bookmarks/:id/titles/:id', 'bookmarks:put', guarded('row', 150)),
        ],
      },
      // BUG telemetry-blocks-play: the playback event is awaited, with no timeout of its own.
      http('edge->telemetry POST /events', 'telemetry', undefined, { ignoreErrors: true }),
    ],
  },
};

interface BugFile {
  id: string;
  title: string;
  class: string;
  pattern: string;
  faultSets: { point: string; kind: string; status?: number }[][];
}

/** The demo's critical services and points (classes.json). */
export interface DemoCritical {
  readonly services: readonly string[];
  readonly points: readonly string[];
}

export interface DemoSystems {
  readonly systems: readonly SimSystem[];
  readonly critical: DemoCritical;
  /** Signature fault sets (atom keys, as `plantedSignatures` makes them) → bug id, per class. */
  readonly signatures: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

const modeOf = (f: { kind: string; status?: number }): string => (f.kind === 'status' ? String(f.status ?? 503) : f.kind);

/**
 * The demo's three request classes as simulated systems, when examples/streaming (at `dir`) has
 * bugs.json and classes.json; undefined otherwise. Throws when a bug's listed fault set does not
 * fail its class in the model (the model would be wrong).
 */
export function demoSystems(dir: string): DemoSystems | undefined {
  if (!existsSync(join(dir, 'bugs.json')) || !existsSync(join(dir, 'classes.json'))) return undefined;
  const bugs = JSON.parse(readFileSync(join(dir, 'bugs.json'), 'utf8')) as BugFile[];
  const classes = JSON.parse(readFileSync(join(dir, 'classes.json'), 'utf8')) as { critical?: { services?: string[]; points?: string[] } };
  const critical = { services: classes.critical?.services ?? [], points: classes.critical?.points ?? [] };
  const shared = services();
  const systems: SimSystem[] = [];
  const signatures = new Map<string, Map<string, string>>();
  for (const [cls, edge] of Object.entries(EDGES)) {
    const all = new Map(shared);
    all.set(`edge-${cls}`, svc(`edge-${cls}`, edge.steps));
    const planted: PlantedBug[] = bugs
      .filter((b) => b.class === cls)
      .map((b) => ({ name: b.id, pattern: 'two-fault', points: [...new Set(b.faultSets.flat().map((f) => f.point))], description: b.title }) as PlantedBug);
    const system: SimSystem = { name: `demo/${cls}`, entry: `edge-${cls}`, services: all, deadlineMs: edge.deadlineMs, critical: critical.services, criticalPoints: critical.points, bugs: planted, serviceCount: 16 };
    const sigs = new Map<string, string>();
    let seq = 9_000_000;
    for (const b of bugs.filter((x) => x.class === cls)) {
      for (const set of b.faultSets) {
        const r = simulate(system, new Map(set.map((f) => [f.point, modeOf(f)])), seq++);
        if (r.ok) throw new Error(`demo model: bug ${b.id}'s fault set ${JSON.stringify(set)} does not fail ${cls}`);
        sigs.set(
          set
            .map((f) => faultAtom(f.point, modeOf(f)))
            .sort()
            .join('\u0001'),
          b.id,
        );
      }
    }
    systems.push(system);
    signatures.set(system.name, sigs);
  }
  return { systems, critical, signatures };
}
