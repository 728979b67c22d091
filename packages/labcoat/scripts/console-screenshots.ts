/**
 * Takes the README's screenshots of the web console against the real thing: `labcoat server` (a
 * process, temporary SQLite), the streaming demo with three planted bugs, background traffic, an
 * attack at 100% of `GET /home` on one point, and a campaign on `GET /home` (auth critical). Writes
 * docs/img/console-graph.png, console-attacks.png and console-campaign.png.
 *
 *   npm run build && node packages/labcoat/dist/scripts/console-screenshots.js [--out docs/img]
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STREAMING_FILES } from '../src/streaming.js';
import { eventually, startConsoleLab, whyNoBrowser, type ConsoleLab } from '../test/console-helpers.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const outArg = process.argv.indexOf('--out');
const OUT = resolve(outArg !== -1 && process.argv[outArg + 1] ? process.argv[outArg + 1]! : join(ROOT, 'docs/img'));
const POINT = 'edge->trending GET /trending';

async function main(): Promise<void> {
  const why = whyNoBrowser();
  if (why) throw new Error(why);
  mkdirSync(OUT, { recursive: true });
  let lab: ConsoleLab | undefined;
  try {
    lab = await startConsoleLab({ bugs: 'fallback-same-replica,optional-no-fallback,swallowed-error' });
    const l = lab;
    const index = await fetch(`${l.server.url}/`);
    await index.text();
    if (!/^text\/html/.test(index.headers.get('content-type') ?? '')) throw new Error(`labcoat server does not serve the console at / (GET / → ${index.status})`);
    l.traffic.start();
    console.log(`console-screenshots: server ${l.server.url}, demo edge ${l.system.edgeUrl}`);

    // An attack already halted (for the history), and one running at 100% on one point of GET /home.
    const create = async (name: string, percentage: number): Promise<string> => {
      const r = await l.api('POST', '/api/attacks', { name, target: { points: [POINT] }, entry: { routes: ['GET /home'] }, fault: { kind: 'status', status: 503 }, percentage, durationMs: 15 * 60_000 });
      if (r.status !== 201) throw new Error(`creating an attack: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.id as string;
    };
    const old = await create('home trending 503 (trial)', 10);
    await new Promise((r) => setTimeout(r, 4000));
    await l.api('POST', `/api/attacks/${old}/halt`);
    await create('home trending 503', 100);
    const injected = await eventually(async () => {
      const a = (await l.api('GET', '/api/attacks?state=active')).body.attacks as { injections: number }[];
      return a[0] && a[0].injections > 20 ? a[0].injections : undefined;
    }, 60_000, 500);
    if (!injected) console.log('console-screenshots: no injections counted (is the SDK side of attacks there?)');

    // The attack console: the form, the running attack with its injections, the halted one.
    const page = await l.page('admin', { width: 1440, height: 1180 });
    await page.evaluate(`location.hash = '#/attacks'`);
    await page.getByTestId('active-attacks').waitFor();
    await page.getByLabel('Services (callees)').fill('recommendations');
    await page.getByLabel('Percentage of requests').fill('25');
    await page.getByLabel('Duration').fill('10m');
    await page.waitForTimeout(2500);
    await page.screenshot({ path: join(OUT, 'console-attacks.png') });
    console.log(`console-screenshots: ${join(OUT, 'console-attacks.png')}`);
    await l.api('POST', '/api/halt-all');
    await l.traffic.stop();

    // A campaign on GET /home: k = 1, error faults, auth critical; its failure sets and call graph.
    const classes = JSON.parse(readFileSync(STREAMING_FILES.classes, 'utf8')) as { classes: { name: string }[] };
    const created = await l.api('POST', '/api/campaigns', {
      name: 'home, k=1',
      target: l.system.edgeUrl,
      classes: classes.classes.filter((c) => c.name === 'home'),
      maxFaults: 1,
      faults: ['error'],
      critical: { services: ['auth'] },
    });
    if (created.status !== 201) throw new Error(`launching a campaign: ${created.status} ${JSON.stringify(created.body)}`);
    await page.setViewportSize({ width: 1440, height: 1400 });
    await page.evaluate(`location.hash = '#/campaigns/${created.body.id as string}'`);
    await page.getByTestId('campaign-results').waitFor({ timeout: 180_000 });
    await page.locator('[data-testid=failure-sets] tbody tr').first().getByRole('button', { name: 'Show on graph' }).click();
    await page.waitForTimeout(1000);
    await page.screenshot({ path: join(OUT, 'console-campaign.png') });
    console.log(`console-screenshots: ${join(OUT, 'console-campaign.png')}`);

    // The graph last: the attacked edge still failing in the window, the services the campaign
    // named critical starred, and the attacked edge selected.
    l.traffic.start();
    await new Promise((r) => setTimeout(r, 5000));
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.evaluate(`location.hash = '#/graph'`);
    await page.getByTestId('service-table').waitFor({ timeout: 30_000 }).catch(() => undefined);
    await eventually(async () => (await page.locator('.summary .bad').count()) > 0, 30_000, 1000);
    await page.locator('[data-testid=service-table] [data-service="edge"]').click();
    await page.getByRole('button', { name: '→ trending' }).click();
    await page.getByTestId('edge-points').waitFor();
    await page.locator('details.service-list > summary').click(); // fold the list away
    await page.evaluate('window.scrollTo(0, 0)');
    await page.waitForTimeout(1500);
    await page.screenshot({ path: join(OUT, 'console-graph.png') });
    console.log(`console-screenshots: ${join(OUT, 'console-graph.png')}`);
  } finally {
    await lab?.close();
  }
}

main().catch((e: unknown) => {
  console.error(`console-screenshots: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
