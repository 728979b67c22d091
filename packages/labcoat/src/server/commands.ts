/**
 * The control plane's commands: `labcoat server`, `labcoat token create|list|revoke` (on the
 * database directly), and the API clients `labcoat attack create|list|show|halt`, `labcoat halt-all`,
 * `labcoat campaign run|show|list|stop`. Every command takes `--json`. Client commands talk to
 * `--server` (LABCOAT_SERVER, default http://127.0.0.1:7070) with `--token` (LABCOAT_TOKEN).
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parseFaultShorthand, type FaultSpec } from '@labcoat/core';
import { parseDuration } from '../duration.js';
import { openStore } from '../store/index.js';
import { ROLES, type AttackRecord, type CampaignRecord, type Role, type TokenRecord } from '../store/types.js';
import { createToken, isRole } from './auth.js';
import { ApiClient, ApiError } from './client.js';
import { parseLongDuration, parseSize } from './duration.js';
import { startServer } from './server.js';

const DEFAULT_DB = './labcoat.db';
const collect = (v: string, prev: string[]): string[] => [...prev, v];

interface ClientFlags {
  server?: string;
  token?: string;
  json?: boolean;
}

function clientOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--server <url>', 'control plane URL').env('LABCOAT_SERVER'))
    .addOption(new Option('--token <token>', 'bearer token').env('LABCOAT_TOKEN'))
    .option('--json', 'print JSON');
}

function client(o: ClientFlags): ApiClient {
  return new ApiClient({ ...(o.server ? { server: o.server } : {}), ...(o.token ? { token: o.token } : {}) });
}

/** Runs a client command: API errors print their message (and field errors) and exit 2. */
async function run(o: ClientFlags, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (o.json) console.log(JSON.stringify({ error: e.message, status: e.status, ...(e.fields ? { fields: e.fields } : {}) }));
    process.stderr.write(`labcoat: ${e.message}\n`);
    for (const f of e.fields ?? []) process.stderr.write(`  ${f.field || '(body)'}: ${f.message}\n`);
    process.exitCode = 2;
  }
}

const time = (ms: number | null | undefined): string => (ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

function attackLine(a: AttackRecord): string {
  const target = Object.entries(a.target)
    .map(([k, v]) => `${k}=${(v as string[]).join(',')}`)
    .join(' ');
  return `${a.id.padEnd(18)} ${a.state.padEnd(8)} ${String(a.percentage).padStart(5)}%  ${String(a.fault.kind).padEnd(9)} ${target}${a.name ? `  "${a.name}"` : ''}  until ${time(a.expiresAt)}`;
}

export function registerControlPlane(program: Command): void {
  program
    .command('server')
    .description('run the control plane: span ingestion, service graph, attacks with halt and a signed feed, campaigns')
    .option('--port <port>', 'port to listen on', '7070')
    .option('--host <host>', 'interface to listen on (0.0.0.0 to serve other machines)', '127.0.0.1')
    .addOption(new Option('--db <path|url>', 'SQLite file, or a postgres:// URL shared by several replicas').env('LABCOAT_DB').default(DEFAULT_DB))
    .addOption(new Option('--key <secret>', 'the key the services share: signs the attack feed and campaign plans').env('LABCOAT_KEY'))
    .option('--lease <duration>', 'attack lease given to SDKs (heartbeat every lease/3)', '5s')
    .option('--retain-age <duration>', 'delete spans older than this', '7d')
    .option('--retain-size <size>', 'keep at most this much span data', '1GB')
    .option('--retain-spans <n>', 'keep at most this many spans')
    .addOption(new Option('--ingest-auth <mode>', 'span ingestion: open (like an OpenTelemetry collector) or token (service/admin token)').choices(['open', 'token']).default('open'))
    .option('--max-campaigns <n>', 'campaigns this replica runs at once', '2')
    .option('--campaign-stale <duration>', 'PostgreSQL: a running campaign whose replica has not been heard from for this long is marked interrupted', '15s')
    .option('--retention-every <duration>', 'how often span retention runs', '60s')
    .addOption(new Option('--critical <services>', 'critical services, comma-separated (marked in the graph; PUT /api/critical overrides)').env('LABCOAT_CRITICAL'))
    .option('--json', 'print the listening line as JSON')
    .action(async (o: { critical?: string; port: string; host: string; db: string; key?: string; lease: string; retainAge: string; retainSize: string; retainSpans?: string; ingestAuth: 'open' | 'token'; maxCampaigns: string; campaignStale: string; retentionEvery: string; json?: boolean }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: expected 0 to 65535, got ${JSON.stringify(o.port)}`);
      const maxCampaigns = Number(o.maxCampaigns);
      if (!Number.isInteger(maxCampaigns) || maxCampaigns < 0 || maxCampaigns > 64) throw new Error('--max-campaigns: expected 0 to 64');
      const retainSpans = o.retainSpans === undefined ? undefined : Number(o.retainSpans);
      if (retainSpans !== undefined && (!Number.isInteger(retainSpans) || retainSpans < 0)) throw new Error('--retain-spans: expected a whole number');
      const server = await startServer({
        db: o.db,
        port,
        host: o.host,
        ...(o.key ? { key: o.key } : {}),
        leaseMs: parseDuration(o.lease, '--lease'),
        retention: { maxAgeMs: parseLongDuration(o.retainAge, '--retain-age'), maxBytes: parseSize(o.retainSize, '--retain-size'), ...(retainSpans !== undefined ? { maxSpans: retainSpans } : {}) },
        ingestAuth: o.ingestAuth,
        maxCampaigns,
        campaignStaleMs: parseDuration(o.campaignStale, '--campaign-stale'),
        retentionIntervalMs: parseDuration(o.retentionEvery, '--retention-every'),
        ...(o.critical ? { critical: o.critical.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
      });
      const tokens = await server.store.listTokens();
      if (o.json) console.log(JSON.stringify({ event: 'listening', url: server.url, store: server.store.kind, location: server.store.location, replica: server.replica, feed: Boolean(o.key) }));
      else {
        console.log(`labcoat server listening on ${server.url} (${server.store.kind}: ${server.store.location}, replica ${server.replica})`);
        console.log(`  spans: POST ${server.url}/v1/traces (OTLP/HTTP JSON)   API: ${server.url}/openapi.json`);
      }
      if (!o.key) process.stderr.write('labcoat: no key (--key or LABCOAT_KEY): the attack feed and campaigns are off until the server has the key the services share\n');
      if (tokens.filter((t) => t.revokedAt === null).length === 0) {
        const db = /\s/.test(o.db) ? JSON.stringify(o.db) : o.db;
        process.stderr.write(`labcoat: no tokens yet. Create an admin token (shown once) with:\n  labcoat token create --role admin --db ${db.startsWith('postgres') ? "'<the same URL>'" : db}\n`);
      }
      let stopping = false;
      const stop = (signal: NodeJS.Signals): void => {
        if (stopping) process.exit(130);
        stopping = true;
        process.stderr.write(`labcoat: ${signal}: stopping the server…\n`);
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  const token = program.command('token').description('bearer tokens for the control plane (works on the database directly)');
  const dbOption = (): Option => new Option('--db <path|url>', 'the server’s database').env('LABCOAT_DB').default(DEFAULT_DB);
  token
    .command('create')
    .description('create a token and print it once (it is stored hashed)')
    .addOption(new Option('--role <role>', 'admin (everything), viewer (reads) or service (SDKs: attack feed, reports, spans)').choices(ROLES as unknown as string[]).makeOptionMandatory())
    .option('--name <name>', 'what the token is for')
    .addOption(dbOption())
    .option('--json', 'print JSON')
    .action(async (o: { role: Role; name?: string; db: string; json?: boolean }) => {
      if (!isRole(o.role)) throw new Error(`--role: expected one of ${ROLES.join(', ')}`);
      const store = await openStore(o.db);
      try {
        const user = process.env['USER'] ?? process.env['USERNAME'] ?? 'unknown';
        const { token: text, record } = await createToken(store, o.role, o.name ?? null, { id: `cli:${user}`, role: 'cli' });
        if (o.json) console.log(JSON.stringify({ id: record.id, role: record.role, name: record.name, token: text }));
        else {
          console.log(text);
          process.stderr.write(`labcoat: ${record.role} token ${record.id} created; it is shown only now. Use it with --token or LABCOAT_TOKEN.\n`);
        }
      } finally {
        await store.close();
      }
    });
  token
    .command('list')
    .description('list tokens (ids, roles, names; never the tokens)')
    .addOption(dbOption())
    .option('--json', 'print JSON')
    .action(async (o: { db: string; json?: boolean }) => {
      const store = await openStore(o.db);
      try {
        const list = (await store.listTokens()).map(({ hash: _hash, ...t }) => t);
        if (o.json) console.log(JSON.stringify({ tokens: list }));
        else for (const t of list) console.log(`${t.id.padEnd(18)} ${t.role.padEnd(8)} ${t.revokedAt ? `revoked ${time(t.revokedAt)}` : 'active'}  ${t.name ?? ''}`);
      } finally {
        await store.close();
      }
    });
  token
    .command('revoke')
    .description('revoke a token (servers stop accepting it within 5 s)')
    .argument('<id>')
    .addOption(dbOption())
    .option('--json', 'print JSON')
    .action(async (id: string, o: { db: string; json?: boolean }) => {
      const store = await openStore(o.db);
      try {
        const user = process.env['USER'] ?? 'unknown';
        const ok = await store.revokeToken(id, Date.now(), { actor: { id: `cli:${user}`, role: 'cli' }, action: 'token.revoke', target: id });
        if (o.json) console.log(JSON.stringify({ id, revoked: ok }));
        else console.log(ok ? `revoked ${id}` : `no active token ${id}`);
        if (!ok) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });

  const attack = program.command('attack').description('production attacks (FIT): create, list, show, halt');
  clientOptions(
    attack
      .command('create')
      .description('create an attack on matching calls of a share of requests, for a while')
      .option('--file <attack.json>', 'the attack definition as JSON (flags given too override it)')
      .option('--service <glob>', 'callee services to fault (repeatable)', collect, [])
      .option('--point <glob>', 'injection points to fault, e.g. "edge->ratings GET /ratings/:id" (repeatable)', collect, [])
      .option('--caller <glob>', 'caller services (repeatable)', collect, [])
      .option('--route <glob>', 'callee route templates (repeatable)', collect, [])
      .option('--label <key=glob>', 'baggage members the request must carry, e.g. user.id=u-1* (repeatable)', collect, [])
      .option('--entry <route>', 'incoming requests at the entry service that may join, e.g. "GET /home" (repeatable)', collect, [])
      .option('--fault <fault>', 'the fault: error, a status (503), hang, delay:MS, reset, malformed, or JSON')
      .option('--percentage <p>', 'share of matching requests that join (0-100]')
      .option('--duration <duration>', 'how long it runs: 30s, 10m, 1h')
      .option('--name <name>', 'a name for people'),
  ).action((o: ClientFlags & { file?: string; service: string[]; point: string[]; caller: string[]; route: string[]; label: string[]; entry: string[]; fault?: string; percentage?: string; duration?: string; name?: string }) =>
    run(o, async () => {
      const body = attackFromFlags(o);
      const created = await client(o).request<AttackRecord>('POST', '/api/attacks', body);
      if (o.json) console.log(JSON.stringify(created));
      else console.log(`created ${attackLine(created)}`);
    }),
  );
  clientOptions(
    attack
      .command('list')
      .description('list attacks, newest first')
      .addOption(new Option('--state <state>', 'only this state').choices(['active', 'halted', 'expired']))
      .option('--limit <n>', 'at most this many', '100'),
  ).action((o: ClientFlags & { state?: string; limit: string }) =>
    run(o, async () => {
      const q = new URLSearchParams({ limit: o.limit, ...(o.state ? { state: o.state } : {}) });
      const r = await client(o).request<{ attacks: AttackRecord[] }>('GET', `/api/attacks?${q}`);
      if (o.json) console.log(JSON.stringify(r));
      else if (r.attacks.length === 0) console.log('no attacks');
      else for (const a of r.attacks) console.log(attackLine(a));
    }),
  );
  clientOptions(attack.command('show').description('show one attack').argument('<id>')).action((id: string, o: ClientFlags) =>
    run(o, async () => {
      const a = await client(o).request<AttackRecord>('GET', `/api/attacks/${encodeURIComponent(id)}`);
      if (o.json) console.log(JSON.stringify(a));
      else console.log(`${attackLine(a)}\n${JSON.stringify(a, null, 2)}`);
    }),
  );
  clientOptions(attack.command('halt').description('halt one attack now').argument('<id>')).action((id: string, o: ClientFlags) =>
    run(o, async () => {
      const r = await client(o).request<{ attack: AttackRecord; halted: boolean }>('POST', `/api/attacks/${encodeURIComponent(id)}/halt`);
      if (o.json) console.log(JSON.stringify(r));
      else console.log(r.halted ? `halted ${r.attack.id}` : `${r.attack.id} was already ${r.attack.state}`);
    }),
  );
  clientOptions(program.command('halt-all').description('halt every active attack now (kill switch)')).action((o: ClientFlags) =>
    run(o, async () => {
      const r = await client(o).request<{ halted: string[] }>('POST', '/api/halt-all');
      if (o.json) console.log(JSON.stringify(r));
      else console.log(r.halted.length === 0 ? 'no active attacks' : `halted ${r.halted.length}: ${r.halted.join(', ')}`);
    }),
  );

  const campaign = program.command('campaign').description('explore runs on the server: run, show, list, stop');
  clientOptions(
    campaign
      .command('run')
      .description('start an explore run on the server and follow its progress (the services export spans to the server)')
      .option('--file <spec.json>', 'explore options as JSON (target, classes, maxFaults, faults, critical, budget…)')
      .option('--target <url>', 'the request to explore, e.g. http://127.0.0.1:3000/home')
      .option('--name <name>', 'a name for people')
      .option('--max-faults <k>', 'largest fault set to consider')
      .option('--faults <list>', 'fault modes, e.g. error,503,hang')
      .option('--budget <n>', 'experiments per request class at most')
      .option('--time-budget <duration>', 'stop exploring after this long')
      .option('--detach', 'print the campaign and return at once'),
  ).action((o: ClientFlags & { file?: string; target?: string; name?: string; maxFaults?: string; faults?: string; budget?: string; timeBudget?: string; detach?: boolean }) =>
    run(o, async () => {
      const spec: Record<string, unknown> = o.file ? readJsonFile(o.file) : {};
      if (o.target) spec['target'] = o.target;
      if (o.name) spec['name'] = o.name;
      if (o.maxFaults) spec['maxFaults'] = Number(o.maxFaults);
      if (o.faults) spec['faults'] = o.faults;
      if (o.budget) spec['budget'] = Number(o.budget);
      if (o.timeBudget) spec['timeBudgetMs'] = parseDuration(o.timeBudget, '--time-budget');
      const api = client(o);
      const created = await api.request<CampaignRecord>('POST', '/api/campaigns', spec);
      if (o.detach) {
        if (o.json) console.log(JSON.stringify(created));
        else console.log(`campaign ${created.id} running; follow it with: labcoat campaign show ${created.id}`);
        return;
      }
      if (!o.json) process.stderr.write(`labcoat: campaign ${created.id} running on ${api.server}\n`);
      const stop = new AbortController();
      const onSignal = (): void => {
        process.stderr.write(`labcoat: stopping campaign ${created.id}…\n`);
        void api.request('POST', `/api/campaigns/${created.id}/stop`).catch(() => {});
      };
      process.once('SIGINT', onSignal);
      try {
        await api.follow(
          `/api/campaigns/${created.id}/events`,
          (event, data) => {
            if (event === 'end') return true;
            if (o.json) return;
            const e = JSON.parse(data) as { type: string; data: Record<string, unknown> };
            if (e.type === 'progress') process.stderr.write(`labcoat: ${String(e.data['className'])}: ${String(e.data['experiments'])} experiments, ${String(e.data['failures'])} failure sets\n`);
            else if (e.type === 'log') process.stderr.write(`labcoat: ${String(e.data['line'])}\n`);
            else if (e.type === 'state') process.stderr.write(`labcoat: campaign ${String(e.data['state'])}${e.data['error'] ? `: ${String(e.data['error'])}` : ''}\n`);
            return undefined;
          },
          stop.signal,
        );
      } finally {
        process.removeListener('SIGINT', onSignal);
      }
      const final = await api.request<CampaignRecord>('GET', `/api/campaigns/${created.id}`);
      printCampaign(final, o.json);
      process.exitCode = campaignExit(final);
    }),
  );
  clientOptions(campaign.command('show').description('show a campaign: state, progress, and the report once finished').argument('<id>')).action((id: string, o: ClientFlags) =>
    run(o, async () => {
      printCampaign(await client(o).request<CampaignRecord>('GET', `/api/campaigns/${encodeURIComponent(id)}`), o.json);
    }),
  );
  clientOptions(campaign.command('list').description('list campaigns, newest first').option('--limit <n>', 'at most this many', '50')).action((o: ClientFlags & { limit: string }) =>
    run(o, async () => {
      const r = await client(o).request<{ campaigns: CampaignRecord[] }>('GET', `/api/campaigns?limit=${encodeURIComponent(o.limit)}`);
      if (o.json) console.log(JSON.stringify(r));
      else if (r.campaigns.length === 0) console.log('no campaigns');
      else for (const c of r.campaigns) console.log(`${c.id.padEnd(18)} ${c.state.padEnd(11)} ${time(c.createdAt)}  ${c.name ?? ''}`);
    }),
  );
  clientOptions(campaign.command('stop').description('stop a running campaign (it keeps the report so far)').argument('<id>')).action((id: string, o: ClientFlags) =>
    run(o, async () => {
      const r = await client(o).request<{ stopping: boolean; state: string }>('POST', `/api/campaigns/${encodeURIComponent(id)}/stop`);
      if (o.json) console.log(JSON.stringify(r));
      else console.log(r.stopping ? `stopping ${id}` : `${id} is ${r.state}`);
    }),
  );
}

function readJsonFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ApiError(0, `--file: cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new ApiError(0, `--file: ${file} is not a JSON object: ${(e as Error).message}`);
  }
}

function attackFromFlags(o: { file?: string; service: string[]; point: string[]; caller: string[]; route: string[]; label: string[]; entry: string[]; fault?: string; percentage?: string; duration?: string; name?: string }): Record<string, unknown> {
  const body: Record<string, unknown> = o.file ? readJsonFile(o.file) : {};
  const target: Record<string, unknown> = { ...((body['target'] as Record<string, unknown> | undefined) ?? {}) };
  if (o.service.length) target['services'] = o.service;
  if (o.point.length) target['points'] = o.point;
  if (o.caller.length) target['callers'] = o.caller;
  if (o.route.length) target['routes'] = o.route;
  body['target'] = target;
  if (o.label.length) {
    const labels: Record<string, string> = { ...((body['labels'] as Record<string, string> | undefined) ?? {}) };
    for (const l of o.label) {
      const eq = l.indexOf('=');
      if (eq <= 0) throw new ApiError(0, `--label: expected key=glob, got ${JSON.stringify(l)}`);
      labels[l.slice(0, eq)] = l.slice(eq + 1);
    }
    body['labels'] = labels;
  }
  if (o.entry.length) body['entry'] = { routes: o.entry };
  if (o.fault !== undefined) {
    let fault: FaultSpec;
    try {
      fault = parseFaultShorthand(o.fault);
    } catch (e) {
      throw new ApiError(0, `--fault: ${(e as Error).message}`);
    }
    body['fault'] = fault;
  }
  if (o.percentage !== undefined) body['percentage'] = Number(o.percentage);
  if (o.duration !== undefined) {
    try {
      body['durationMs'] = parseDuration(o.duration, '--duration');
    } catch (e) {
      throw new ApiError(0, (e as Error).message);
    }
  }
  if (o.name !== undefined) body['name'] = o.name;
  return body;
}

function printCampaign(c: CampaignRecord, json: boolean | undefined): void {
  if (json) {
    console.log(JSON.stringify(c));
    return;
  }
  console.log(`campaign ${c.id}${c.name ? ` "${c.name}"` : ''}: ${c.state}`);
  console.log(`  started ${time(c.startedAt)}${c.finishedAt ? `, ended ${time(c.finishedAt)}` : ''}, ${c.events} events stored`);
  const p = c.progress as { className?: string; experiments?: number; failures?: number } | null;
  if (p && c.state === 'running') console.log(`  ${p.className}: ${p.experiments} experiments, ${p.failures} failure sets so far`);
  const s = c.summary as { experiments?: number; bugs?: number; certified?: boolean } | null;
  if (s) console.log(`  ${s.experiments} experiments, ${s.bugs} bug${s.bugs === 1 ? '' : 's'}, ${s.certified ? 'certified' : 'not certified'}`);
  if (c.error) console.log(`  error: ${c.error}`);
}

/** Like `labcoat explore`: 0 no bugs, 1 bugs, 2 the run failed or did not finish. */
function campaignExit(c: CampaignRecord): number {
  if (c.state !== 'finished' && c.state !== 'stopped') return 2;
  const s = c.summary as { bugs?: number } | null;
  return s && (s.bugs ?? 0) > 0 ? 1 : 0;
}

export type { TokenRecord };
