/**
 * examples/streaming as real processes (sixteen on loopback): every request class answers correctly
 * without faults, with the planted bugs on and off; each planted bug is revealed by a signed plan
 * carrying exactly its documented fault set when it is on, and not when it is off; the point ids in
 * bugs.json are real (the faults fire there, as the spans say); critical dependencies fail cleanly;
 * the launcher refuses unknown bug ids and leaves nothing running when a service fails to start.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { checkAnswer, isCriticalPoint, loadClasses, validateClasses } from '../src/classes.js';
import { Collector } from '../src/collector.js';
import { startServices } from '../src/launcher.js';
import { loadBugs, loadStreamingClasses, parseBugList, runClass, startStreaming, STREAMING_FILES, STREAMING_SERVICES, type Streaming } from '../src/streaming.js';
import { describeResult, faultedIn, pointsIn, spansOf, streamingTestLock } from './streaming-helpers.js';

const bugs = loadBugs();
const classes = loadStreamingClasses();
let collector: Collector;
let unlock: (() => void) | undefined;

before(async () => {
  unlock = await streamingTestLock();
  collector = await Collector.start();
});
after(async () => {
  await collector?.close();
  unlock?.();
});

describe('bugs.json and classes.json', () => {
  test('at least six bugs, each with a known class, minimal fault sets and a symptom', () => {
    assert.ok(bugs.length >= 6);
    const names = classes.classes.map((c) => c.name);
    assert.equal(new Set(bugs.map((b) => b.id)).size, bugs.length, 'bug ids are unique');
    for (const b of bugs) {
      assert.match(b.id, /^[a-z0-9-]+$/);
      assert.ok(names.includes(b.class), `${b.id}: class ${b.class}`);
      assert.ok(b.faultSets.length > 0 && b.faultSets.every((s) => s.length > 0), `${b.id}: fault sets`);
      assert.ok(b.symptom.length > 20 && b.title.length > 10);
      for (const f of b.faultSets.flat()) {
        assert.match(f.point, /^[\w.-]+->[\w.-]+ \S+/, `${b.id}: ${f.point} is a point id`);
        assert.ok(!isCriticalPoint(classes.critical, f.point), `${b.id}: ${f.point} must not be critical`);
      }
    }
    assert.ok(bugs.some((b) => b.faultSets.some((s) => s.length === 2)), 'one bug needs two faults at once');
  });

  test('the classes file loads, and bad ones are refused with a reason', () => {
    assert.deepEqual(loadClasses(STREAMING_FILES.classes).classes.map((c) => c.name), ['home', 'title', 'play']);
    assert.throws(() => validateClasses({ classes: [] }), /non-empty array/);
    assert.throws(() => validateClasses({ classes: [{ name: 'x', method: 'get', path: '/' }] }), /upper-case/);
    assert.throws(() => validateClasses({ classes: [{ name: 'x', method: 'GET', path: '/', expect: { status: [200], json: { 'a/b': 1 } } }] }), /JSON Pointer/);
    const home = classes.classes[0]!;
    assert.deepEqual(checkAnswer(home.expect, { status: 200, body: { profile: { id: '7', name: 'Alex' }, plan: 'premium', rows: [{ id: 'picks', items: [{ title: 't', artwork: 'a' }] }] }, durationMs: 5 }), []);
    const v = checkAnswer(home.expect, { status: 200, body: { profile: { id: 'guest' } }, durationMs: 5000 });
    assert.ok(v.some((x) => x.check === 'json' && x.pointer === '/profile/id'));
    assert.ok(v.some((x) => x.check === 'deadline'));
    assert.ok(!v.some((x) => x.check === 'status'));
  });

  test('unknown bug ids are refused, naming the valid ones, before anything starts', async () => {
    assert.deepEqual(parseBugList('none'), []);
    assert.deepEqual(parseBugList('all'), bugs.map((b) => b.id));
    assert.deepEqual(parseBugList(' retry-storm , swallowed-error '), ['retry-storm', 'swallowed-error']);
    assert.throws(() => parseBugList('retry-storm,nope'), (e: Error) => e.message.includes('nope') && e.message.includes('nested-timeouts') && e.message.includes('all'));
    await assert.rejects(startStreaming({ bugs: 'no-such-bug' }), /unknown bug id: no-such-bug\. Valid ids: /);
  });
});

describe('the launcher', () => {
  test('when one service fails to start, the others are stopped and the error says which', async () => {
    const good = STREAMING_SERVICES.find((s) => s.name === 'trending')!;
    const script = (name: string) => fileURLToPath(new URL(`../../../../examples/streaming/dist/src/${name}.js`, import.meta.url));
    let err: Error | undefined;
    try {
      await startServices([
        { name: 'trending', script: script(good.script), env: { LABCOAT_SERVICE: 'trending' }, watchStdin: true },
        { name: 'broken', script: script('no-such-service'), watchStdin: true },
      ]);
    } catch (e) {
      err = e as Error;
    }
    assert.match(err?.message ?? '', /1 of 2 services failed to start:\nbroken exited/);
  });
});

function classNamed(name: string) {
  return classes.classes.find((c) => c.name === name)!;
}

describe('examples/streaming with --bugs all', () => {
  let system: Streaming;
  before(async () => {
    system = await startStreaming({ bugs: 'all', otlpUrl: collector.url, warmup: 2 });
  });
  after(async () => {
    await system?.stop();
  });

  test('sixteen services, each its own process on 127.0.0.1', () => {
    const services = Object.values(system.services);
    assert.equal(services.length, 16);
    assert.equal(new Set(services.map((s) => s.child.pid)).size, 16);
    assert.ok(services.every((s) => s.url.startsWith('http://127.0.0.1:')));
    assert.deepEqual(system.bugs, bugs.map((b) => b.id));
  });

  for (const cls of classes.classes) {
    test(`${cls.method} ${cls.path} answers correctly with no faults (the bugs are latent)`, async () => {
      const r = await runClass(system, cls);
      assert.deepEqual(r.violations, [], describeResult(r));
    });
  }

  for (const bug of bugs) {
    test(`bug ${bug.id} is revealed by its documented fault set${bug.faultSets.length > 1 ? 's' : ''}`, async () => {
      for (const set of bug.faultSets) {
        const r = await runClass(system, classNamed(bug.class), { faults: set, planId: bug.id });
        assert.ok(r.violations.length > 0, `not revealed: ${describeResult(r)}`);
        if (bug.id === 'swallowed-error') {
          // Only a body check catches it: the status is fine.
          assert.equal(r.status, 200, describeResult(r));
          assert.ok(r.violations.every((v) => v.check === 'json'), describeResult(r));
        }
        // The documented point ids are real: the spans say each fault fired exactly there.
        const spans = await spansOf(collector, r);
        assert.deepEqual([...faultedIn(spans)].sort(), [...new Set(set.map((f) => f.point))].sort(), `faults fired at: ${[...faultedIn(spans)].join(', ')}`);
      }
    });
  }
});

describe('examples/streaming with --bugs none', () => {
  let system: Streaming;
  before(async () => {
    system = await startStreaming({ bugs: 'none', otlpUrl: collector.url, warmup: 2 });
  });
  after(async () => {
    await system?.stop();
  });

  for (const cls of classes.classes) {
    test(`${cls.method} ${cls.path} answers correctly with no faults, and spans of its calls arrive`, async () => {
      const r = await runClass(system, cls);
      assert.deepEqual(r.violations, [], describeResult(r));
      const spans = await spansOf(collector, r);
      assert.ok(pointsIn(spans).has('edge->auth GET /session'));
    });
  }

  for (const bug of bugs) {
    test(`bug ${bug.id}: its fault set${bug.faultSets.length > 1 ? 's are' : ' is'} tolerated when the bug is off`, async () => {
      for (const set of bug.faultSets) {
        let r = await runClass(system, classNamed(bug.class), { faults: set, planId: bug.id });
        // Once more if it failed: only a failure that repeats is a finding, not a busy machine.
        if (r.violations.length > 0) r = await runClass(system, classNamed(bug.class), { faults: set, planId: bug.id });
        assert.deepEqual(r.violations, [], describeResult(r));
        const spans = await spansOf(collector, r);
        for (const f of set) assert.ok(faultedIn(spans).has(f.point), `the fault at ${f.point} fired`);
      }
    });
  }

  const criticalCases = [
    ...classes.classes.map((c) => ({ cls: c.name, point: 'edge->auth GET /session', kind: 'error' })),
    { cls: 'home', point: 'auth->session-store get sessions', kind: 'hang' },
    { cls: 'play', point: 'edge->licensing POST /licenses/:id', kind: 'error' },
    { cls: 'play', point: 'edge->licensing POST /licenses/:id', kind: 'hang' },
    { cls: 'play', point: 'licensing->keystore get keys', kind: 'error' },
  ];
  for (const c of criticalCases) {
    test(`a critical failure (${c.point} ⚡${c.kind}) fails ${c.cls} cleanly: 503, a message, in time`, async () => {
      assert.ok(isCriticalPoint(classes.critical, c.point));
      const cls = classNamed(c.cls);
      const r = await runClass(system, cls, { faults: [{ point: c.point, kind: c.kind }], expect: { ...classes.critical.expect, deadlineMs: cls.expect.deadlineMs! } });
      assert.deepEqual(r.violations, [], describeResult(r));
      assert.match((r.body as { error: string }).error, /unavailable/);
    });
  }
});
