/**
 * Safety: no plan, or an unsigned, forged, expired, oversized or malformed plan injects nothing,
 * the request proceeds normally and a counter records it; the SDK never throws into the
 * application. Fuzzed with fast-check, through real HTTP requests and through the API directly.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { encodePlan, utf8ToBase64url } from '@labcoat/core';
import { Labcoat, hmacMac, installFetchInterceptor, point, totalInjections, wrapRequestListener, nodeHeadersGetter } from '../src/index.js';

const KEY = 'safety-test-key-0123456789abcdef';
const sdk = new Labcoat({ service: 'front', key: KEY, exporter: 'memory' });
let front: http.Server;
let back: http.Server;
let frontUrl: URL;
let backCalls = 0;
let undoFetch: () => void;

before(async () => {
  back = http.createServer((_req, res) => {
    backCalls++;
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => back.listen(0, '127.0.0.1', r));
  const backUrl = `http://127.0.0.1:${(back.address() as AddressInfo).port}`;
  undoFetch = installFetchInterceptor(sdk);
  // The front service calls a dependency over fetch and a generic point on every request, so any
  // plan that got through would have two chances to inject.
  front = http.createServer(
    wrapRequestListener(async (_req, res) => {
      try {
        const r = await fetch(`${backUrl}/dep/1`);
        const body = await r.text();
        const cached = await point('cache:get', () => 'hit', { labcoat: sdk });
        res.writeHead(r.status === 200 && body === '{"ok":true}' && cached === 'hit' ? 200 : 500).end();
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    }, sdk),
  );
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  frontUrl = new URL(`http://127.0.0.1:${(front.address() as AddressInfo).port}/x`);
});

after(async () => {
  undoFetch();
  front.closeAllConnections();
  back.closeAllConnections();
  await Promise.all([new Promise((r) => front.close(r)), new Promise((r) => back.close(r))]);
});

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
after(() => agent.destroy());

function send(headers: Record<string, string | string[]>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(frontUrl, { headers, agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const goodPlan = { v: 1 as const, id: 'fuzz', exp: Date.now() + 3_600_000, rules: [{ match: { target: '**' }, fault: { kind: 'error' } }] };
const signed = encodePlan(goodPlan, hmacMac(KEY));
const [ver, payload, sig] = signed.split('.') as [string, string, string];
const otherKey = hmacMac('another-key-that-is-not-shared-0000');

/** Plan tokens that must all inject nothing. */
const badToken = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.stringMatching(/^[A-Za-z0-9_.-]{0,300}$/),
  fc.constant(`${ver}.${payload}`),
  fc.constant(`${ver}.${payload}.`),
  fc.constant(`v2.${payload}.${sig}`),
  // Tampered signature.
  fc.nat({ max: sig.length - 1 }).map((i) => `${ver}.${payload}.${sig.slice(0, i)}${sig[i] === 'A' ? 'B' : 'A'}${sig.slice(i + 1)}`),
  // Tampered payload, original signature.
  fc.nat({ max: payload.length - 1 }).map((i) => `${ver}.${payload.slice(0, i)}${payload[i] === 'A' ? 'B' : 'A'}${payload.slice(i + 1)}.${sig}`),
  // A well-formed plan signed with the wrong key.
  fc.constant(encodePlan(goodPlan, otherKey)),
  // Correctly signed but expired.
  fc.constant(encodePlan({ ...goodPlan, exp: Date.now() - 1 }, hmacMac(KEY))),
  // Correctly signed garbage payloads (invalid plans).
  fc.json({ maxDepth: 3 }).map((j) => {
    const p = `v1.${utf8ToBase64url(j)}`;
    return `${p}.${hmacMac(KEY).sign(p)}`;
  }),
  // Oversized.
  fc.constant(`${ver}.${'A'.repeat(5000)}.${sig}`),
);

const printable = fc.stringMatching(/^[\x20-\x7e]{0,300}$/);
const baggageHeader = fc.oneof(
  printable,
  fc.tuple(fc.array(printable, { maxLength: 5 }), badToken, fc.array(printable, { maxLength: 5 })).map(
    ([pre, token, post]) => [...pre, `labcoat.plan=${token}`, ...post].join(','),
  ),
  badToken.map((t) => `labcoat.plan=${t}`),
  badToken.map((t) => ` labcoat.plan = ${t} ;prop=1`),
);
const traceparent = fc.oneof(
  printable,
  fc.constant('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
  fc.constant('00-00000000000000000000000000000000-00f067aa0ba902b7-01'),
  fc.stringMatching(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[ -~]{0,20})?$/),
);

/** Node refuses some header values client-side (control characters); the fuzz only sends legal HTTP. */
const headerSafe = (s: string) => s.replace(/[^\x20-\x7e]/g, '');

describe('nothing is injected without a valid signed plan', () => {
  test('fuzzed headers over real HTTP: every request answered normally, zero injections', async () => {
    const backBefore = backCalls;
    let requests = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            traceparent,
            tracestate: printable,
            baggage: fc.oneof(baggageHeader, fc.array(baggageHeader, { minLength: 2, maxLength: 3 })),
          },
          { requiredKeys: [] },
        ),
        async (h) => {
          const headers: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(h)) headers[k] = Array.isArray(v) ? v.map(headerSafe) : headerSafe(v as string);
          requests++;
          assert.equal(await send(headers), 200);
        },
      ),
      { numRuns: 300 },
    );
    assert.equal(totalInjections(sdk.stats), 0, JSON.stringify(sdk.stats.injections));
    assert.equal(sdk.stats.plansAccepted, 0);
    assert.equal(sdk.stats.internalErrors, 0);
    assert.equal(backCalls - backBefore, requests, 'every request made its real dependency call');
    const rejected = Object.values(sdk.stats.plansRejected).reduce((a, b) => a + b, 0);
    assert.ok(rejected > 0, 'rejections are counted');
    assert.ok(sdk.stats.plansRejected['bad-signature'] > 0 && sdk.stats.plansRejected.expired > 0 && sdk.stats.plansRejected.oversized > 0);
    assert.equal(sdk.memory!.spans.filter((s) => s.attributes['labcoat.fault'] !== undefined).length, 0);
  });

  test('arbitrary carriers (any unicode, arrays, throwing getters) never throw and carry no plan', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('traceparent', 'tracestate', 'baggage', 'other'), fc.oneof(fc.string({ unit: 'grapheme', maxLength: 500 }), fc.array(fc.string(), { maxLength: 4 })), {
          maxKeys: 4,
        }),
        (carrier) => {
          const served = sdk.startServer(nodeHeadersGetter, carrier as Record<string, string | string[]>, 'GET', '/x');
          assert.equal(served.context.plan, undefined);
          served.finish(200);
        },
      ),
      { numRuns: 500 },
    );
    const throwing = { get(): never { throw new Error('broken carrier'); } };
    const served = sdk.startServer(throwing, {}, 'GET', '/x');
    assert.equal(served.context.plan, undefined);
    served.finish(200);
  });

  test('a valid plan does inject (the fuzz above could have caught one)', async () => {
    const before = backCalls;
    assert.equal(await send({ baggage: `labcoat.plan=${signed}` }), 500);
    assert.equal(backCalls, before, 'the dependency call was refused before it was made');
    assert.ok(totalInjections(sdk.stats) >= 1);
  });

  test('verification is cached: the same token is checked once', () => {
    const fresh = new Labcoat({ service: 'cache-check', key: KEY, exporter: 'none' });
    let verifications = 0;
    const mac = hmacMac(KEY);
    const counting = { sign: mac.sign, verify: (d: string, m: string) => (verifications++, mac.verify(d, m)) };
    (fresh as unknown as { verifier: { mac: unknown } }).verifier.mac = counting;
    for (let i = 0; i < 100; i++) assert.equal(fresh.verifyPlan(signed)?.id, 'fuzz');
    const forged = `${ver}.${payload}.${'A'.repeat(43)}`;
    for (let i = 0; i < 100; i++) assert.equal(fresh.verifyPlan(forged), undefined);
    assert.equal(verifications, 2);
    assert.equal(fresh.stats.plansAccepted, 100);
    assert.equal(fresh.stats.plansRejected['bad-signature'], 100);
  });

  test('a service without a key accepts no plan at all', () => {
    const keyless = new Labcoat({ service: 'keyless', exporter: 'none', env: {} });
    assert.equal(keyless.verifyPlan(signed), undefined);
    assert.equal(keyless.stats.plansRejected['bad-signature'], 1);
  });
});
