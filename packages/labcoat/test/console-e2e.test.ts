/**
 * The web console end to end (issue 7): `labcoat server` as a process on a temporary SQLite
 * database, tokens from `labcoat token create`, the 16-process streaming demo exporting spans to it
 * and subscribed to its attack feed, and Debian's Chromium (headless, playwright-core) clicking
 * through the console served at `/`: a viewer sees no admin button and a forced POST is refused;
 * an admin sees every demo service on the graph, creates an attack and sees its injections counted,
 * halts everything, launches a campaign and sees its failure sets.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { runClass, STREAMING_FILES, STREAMING_SERVICES } from '../src/streaming.js';
import { eventually, startConsoleLab, whyNoBrowser, type ConsoleLab } from './console-helpers.js';
import { streamingTestLock } from './streaming-helpers.js';

const noBrowser = whyNoBrowser();
/** The planted bugs GET /home reveals with one `error` fault each. */
const BUGS = 'fallback-same-replica,optional-no-fallback,swallowed-error';
const ATTACK_POINT = 'edge->trending GET /trending';

describe('web console, end to end in Chromium', { skip: noBrowser ?? false, timeout: 1_200_000 }, () => {
  let lab: ConsoleLab | undefined;
  let unlock: (() => void) | undefined;
  /** Why the console cannot be tested on this server, when it does not serve it. */
  let notServed: string | undefined;
  const pages: Page[] = [];

  before(
    async () => {
      unlock = await streamingTestLock();
      lab = await startConsoleLab({ bugs: BUGS });
      lab.traffic.start();
      const res = await fetch(`${lab.server.url}/`, { signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      if (res.status !== 200 || !/^text\/html/.test(res.headers.get('content-type') ?? '') || !body.includes('id="app"')) {
        notServed = `labcoat server does not serve the console at / yet (GET / answered ${res.status} ${res.headers.get('content-type') ?? ''}); docs/dev/console-api-needs.md §1`;
      }
    },
    { timeout: 420_000 }, // the streaming lock may wait up to 240 s for another file's demo
  );

  after(async () => {
    for (const p of pages) await p.context().close().catch(() => undefined);
    await lab?.close();
    unlock?.();
  });

  const open = async (role: 'admin' | 'viewer', hash = '#/graph'): Promise<Page> => {
    const page = await lab!.page(role);
    pages.push(page);
    await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
    return page;
  };

  test('the bundle is served at / with its content types, an SPA fallback, and nothing from elsewhere', { timeout: 60_000 }, async (t) => {
    if (notServed) return t.skip(notServed);
    const base = lab!.server.url;
    const index = await fetch(`${base}/`);
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), `index.html names its script and stylesheet: ${html}`);
    assert.doesNotMatch(html, /(?:src|href)="(?:https?:)?\/\//, 'index.html loads nothing from another origin');
    for (const a of assets) {
      const r = await fetch(`${base}${a}`);
      assert.equal(r.status, 200, a);
      const type = r.headers.get('content-type') ?? '';
      if (a.endsWith('.js')) assert.match(type, /^(text|application)\/javascript/, `${a}: ${type}`);
      if (a.endsWith('.css')) assert.match(type, /^text\/css/, `${a}: ${type}`);
      await r.arrayBuffer();
    }
    const spa = await fetch(`${base}/campaigns/some-id`);
    assert.equal(spa.status, 200, 'a client-side path answers index.html');
    assert.match(spa.headers.get('content-type') ?? '', /^text\/html/);
    await spa.text();
    const missing = await fetch(`${base}/assets/no-such-file.js`);
    assert.equal(missing.status, 404, 'a missing asset is a 404, not index.html');
    await missing.text();
    const api404 = await fetch(`${base}/api/no-such-route`, { headers: { authorization: `Bearer ${lab!.tokens.admin}` } });
    assert.equal(api404.status, 404, 'unknown API paths stay 404 JSON');
    assert.match(api404.headers.get('content-type') ?? '', /json/);
    await api404.text();

    // In the browser: every request goes to the server itself (works offline, no CDN).
    const context = await lab!.browser.newContext();
    const page = await context.newPage();
    pages.push(page);
    const elsewhere: string[] = [];
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(base) && !u.startsWith('data:') && !u.startsWith('blob:')) elsewhere.push(u);
    });
    await page.goto(`${base}/`);
    await page.getByLabel('Token').waitFor();
    assert.deepEqual(elsewhere, []);
  });

  test('a viewer signs in, sees no admin button, and a forced POST is refused', { timeout: 60_000 }, async (t) => {
    if (notServed) return t.skip(notServed);
    const page = await open('viewer', '#/attacks');
    assert.match((await page.getByTestId('role').textContent()) ?? '', /viewer/);
    await page.getByTestId('viewer-note').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Halt all', exact: true }).count(), 0, 'no Halt all for a viewer');
    assert.equal(await page.getByRole('button', { name: 'Start attack' }).count(), 0, 'no attack form for a viewer');
    await page.evaluate(`location.hash = '#/campaigns'`);
    await page.getByRole('heading', { name: 'Campaigns', exact: true }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Launch campaign' }).count(), 0, 'no launch form for a viewer');
    // The buttons are hidden, and the server refuses anyway: the viewer's token, from the page.
    const statuses = await page.evaluate(`(async () => {
      const token = sessionStorage.getItem('labcoat.token');
      const post = async (path, body) =>
        (await fetch(path, { method: 'POST', headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' }, body: JSON.stringify(body) })).status;
      return {
        haltAll: await post('/api/halt-all', {}),
        attack: await post('/api/attacks', { target: { services: ['trending'] }, fault: { kind: 'status', status: 503 }, percentage: 100, durationMs: 60000 }),
        campaign: await post('/api/campaigns', { target: 'http://127.0.0.1:9/home' }),
      };
    })()`);
    assert.deepEqual(statuses, { haltAll: 403, attack: 403, campaign: 403 });
  });

  test('an admin sees every demo service on the graph, and an edge’s injection points', { timeout: 120_000 }, async (t) => {
    if (notServed) return t.skip(notServed);
    const page = await open('admin', '#/graph');
    const expected = STREAMING_SERVICES.map((s) => s.name).sort();
    // The view polls every 5 s; the services appear once their spans have arrived.
    const shown = await eventually(async () => {
      const names = await page.locator('[data-testid=service-table] [data-service]').allTextContents();
      return expected.every((n) => names.includes(n)) ? names : undefined;
    }, 60_000);
    assert.ok(shown, `every demo service in the list; missing: ${expected.filter((n) => !(shown ?? []).includes(n)).join(', ')}`);
    const drawn = (await page.evaluate('window.__labcoatGraph?.nodes ?? []')) as string[];
    for (const n of expected) assert.ok(drawn.includes(n), `${n} drawn by cytoscape`);
    // A service's panel, then one of its edges: the edge's injection points.
    await page.locator('[data-testid=service-table] [data-service="edge"]').click();
    await page.getByRole('button', { name: '→ recommendations' }).click();
    await page.getByRole('heading', { name: 'edge → recommendations' }).waitFor();
    const points = await page.getByTestId('edge-points').textContent();
    assert.match(points ?? '', /edge->recommendations /);
  });

  test('an admin creates an attack with the form and sees its injections counted', { timeout: 120_000 }, async (t) => {
    if (notServed) return t.skip(notServed);
    const subscribed = await eventually(async () => {
      const h = await lab!.api('GET', '/api/health', undefined, null);
      return (h.body?.feed?.subscribers ?? 0) > 0 ? h.body.feed.subscribers : undefined;
    }, 15_000);
    if (!subscribed) return t.skip('no demo service subscribed to the attack feed: the SDK side of attacks (packages/node/src/attacks, LABCOAT_CONTROL_URL) is not there');
    const page = await open('admin', '#/attacks');
    // Client-side validation first: no target, a bad percentage; nothing is sent.
    await page.getByLabel('Percentage of requests').fill('0');
    await page.getByRole('button', { name: 'Start attack' }).click();
    await page.getByText('name at least one target').waitFor();
    await page.getByText('a number greater than 0 and at most 100').waitFor();
    assert.equal((await lab!.api('GET', '/api/attacks')).body.attacks.length, 0, 'an invalid form sends nothing');

    await page.getByLabel('Injection points').fill(ATTACK_POINT);
    await page.getByLabel('Entry routes').fill('GET /home');
    await page.getByLabel('Percentage of requests').fill('100');
    await page.getByLabel('Duration').fill('5m');
    await page.getByLabel('Kind').selectOption('status');
    await page.getByLabel('HTTP status').fill('503');
    await page.getByLabel('Name (optional)').fill('console e2e');
    await page.getByRole('button', { name: 'Start attack' }).click();
    await page.getByTestId('active-attacks').waitFor({ timeout: 10_000 });
    const row = page.locator('[data-testid=active-attacks] tbody tr', { hasText: 'console e2e' });
    await row.waitFor();
    // The SDKs report every few seconds; the console polls every second.
    const counted = await eventually(async () => {
      const n = Number(((await row.getByTestId('injections').textContent()) ?? '0').replace(/,/g, ''));
      return n > 0 ? n : undefined;
    }, 45_000);
    assert.ok(counted, 'injections counted on the active attack');
    const stored = (await lab!.api('GET', '/api/attacks?state=active')).body.attacks as { name: string; injections: number; target: unknown }[];
    assert.equal(stored.length, 1);
    assert.deepEqual(stored[0]!.target, { points: [ATTACK_POINT] });
  });

  test('Halt all asks first, then stops every attack at once', { timeout: 120_000 }, async (t) => {
    if (notServed) return t.skip(notServed);
    // Two attacks, so that "all" means something (the first may have been skipped).
    for (const name of ['halt-all one', 'halt-all two']) {
      const r = await lab!.api('POST', '/api/attacks', { name, target: { points: [ATTACK_POINT] }, entry: { routes: ['GET /home'] }, fault: { kind: 'status', status: 503 }, percentage: 100, durationMs: 300_000 });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const page = await open('admin', '#/attacks');
    await page.locator('[data-testid=active-attacks] tbody tr', { hasText: 'halt-all two' }).waitFor();
    await page.getByRole('button', { name: 'Halt all', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await dialog.getByText(/\d+ active attacks? will stop/).waitFor();
    // Cancel first: nothing is halted.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.ok((await lab!.api('GET', '/api/attacks?state=active')).body.attacks.length >= 2, 'Cancel halts nothing');
    await page.getByRole('button', { name: 'Halt all', exact: true }).click();
    await page.getByRole('button', { name: 'Halt all attacks' }).click();
    const haltedAt = Date.now();
    await page.getByText(/Halted \d+ attacks?\./).waitFor({ timeout: 5000 });
    assert.deepEqual((await lab!.api('GET', '/api/attacks?state=active')).body.attacks, []);
    await page.getByText('No active attack').waitFor({ timeout: 5000 });

    // In effect within a second: requests sent a second after the click are not attacked.
    const subscribed = (await lab!.api('GET', '/api/health', undefined, null)).body?.feed?.subscribers ?? 0;
    if (subscribed === 0) return;
    await new Promise((r) => setTimeout(r, Math.max(0, haltedAt + 1000 - Date.now())));
    const home = lab!.system.classes.classes.find((c) => c.name === 'home')!;
    for (let i = 0; i < 5; i++) {
      const r = await runClass(lab!.system, home);
      const spans = await eventually(async () => {
        const tr = await lab!.api('GET', `/api/traces/${r.traceId}`);
        const list = (tr.body?.spans ?? []) as { kind: string; attributes: Record<string, unknown> }[];
        return list.some((s) => s.kind === 'client') ? list : undefined;
      }, 10_000);
      assert.ok(spans, `spans of ${r.traceId} arrived`);
      assert.deepEqual(
        spans.filter((s) => s.attributes['labcoat.attack.id'] !== undefined).map((s) => s.attributes['labcoat.point']),
        [],
        'no attack injection after halt-all',
      );
    }
  });

  test('a trace found by id is shown as a tree with timing', { timeout: 60_000 }, async (t) => {
    if (notServed) return t.skip(notServed);
    const home = lab!.system.classes.classes.find((c) => c.name === 'home')!;
    const r = await runClass(lab!.system, home);
    const stored = await eventually(async () => {
      const tr = await lab!.api('GET', `/api/traces/${r.traceId}`);
      return (tr.body?.spans?.length ?? 0) >= 10 ? (tr.body.spans as unknown[]).length : undefined;
    }, 10_000);
    assert.ok(stored, 'the trace’s spans reached the server');
    const page = await open('viewer', '#/traces');
    await page.getByLabel('Trace id').fill(`00-${r.traceId}-${r.parentSpanId}-01`); // a traceparent works too
    await page.getByRole('button', { name: 'Show trace' }).click();
    const tree = page.getByTestId('trace-tree');
    await tree.locator('.tree-row').first().waitFor();
    const rows = await tree.locator('.tree-row').count();
    assert.ok(rows >= stored!, `one row per span (${rows} rows, ${stored} spans stored)`);
    const first = (await tree.locator('.tree-row').first().textContent()) ?? '';
    assert.match(first, /server\s*edge\s*GET \/home/i, 'the entry span is the root');
    // Depth shows as indentation, timing as a bar and a duration.
    const deepest = await tree.locator('[role=treeitem]').evaluateAll((els) => Math.max(...els.map((e) => Number(e.getAttribute('aria-level')))));
    assert.ok(deepest >= 3, `nested spans (deepest level ${deepest})`);
    assert.ok((await tree.locator('.bar').count()) === rows);
  });

  test('an admin launches a campaign, watches it, and sees its minimal failure sets', { timeout: 240_000 }, async (t) => {
    if (notServed) return t.skip(notServed);
    await lab!.traffic.stop();
    const probe = await lab!.api('GET', '/api/campaigns');
    if (probe.status !== 200) return t.skip(`campaigns are not available on this server (GET /api/campaigns → ${probe.status})`);
    const classes = JSON.parse(readFileSync(STREAMING_FILES.classes, 'utf8')) as { classes: { name: string }[] };
    const home = classes.classes.find((c) => c.name === 'home');
    const page = await open('admin', '#/campaigns');
    await page.getByLabel('URL', { exact: true }).fill(lab!.system.edgeUrl);
    await page.getByText('Several request classes (classes.json)').click();
    await page.getByLabel('Classes JSON').fill(JSON.stringify({ classes: [home] }, null, 2));
    await page.getByLabel('Max faults (k)').fill('1');
    for (const mode of ['503', 'hang']) await page.getByRole('checkbox', { name: mode, exact: true }).uncheck();
    await page.getByLabel('Critical services').fill('auth');
    await page.getByLabel('Name (optional)').fill('console e2e home');
    await page.getByRole('button', { name: 'Launch campaign' }).click();
    await page.waitForURL(/#\/campaigns\/cmp_/, { timeout: 10_000 });
    const results = page.getByTestId('campaign-results');
    await results.waitFor({ timeout: 150_000 });
    const state = await page.locator('#campaign-title .badge').textContent();
    assert.equal(state, 'finished');
    const rows = page.locator('[data-testid=failure-sets] tbody tr');
    const text = (await rows.allTextContents()).join('\n');
    for (const point of ['edge->subscriptions GET /subscriptions/:id', 'edge->bookmarks GET /bookmarks/:id', 'profiles->profiles-db get profiles']) {
      assert.ok(text.includes(point), `a failure set at ${point} (planted bug); got:\n${text}`);
    }
    assert.match((await page.locator('.verdict').textContent()) ?? '', /minimal failure sets? found/);
    // A failure set shown on the call graph, and the certificate line of the class.
    await rows.nth(1).getByRole('button', { name: 'Show on graph' }).click();
    assert.match((await page.locator('.graph-caption').textContent()) ?? '', /failure set 2:/);
    assert.match((await page.getByTestId('certificate').textContent()) ?? '', /minimal failure sets? break/);
  });
});
