/**
 * The OpenTelemetry bridge: with no labcoat request context, labcoat's client spans continue the
 * active OpenTelemetry span's trace; with a labcoat context, labcoat's own context wins.
 */
import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { context, trace, type Span, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { parseTraceparent, type SpanData } from '@labcoat/core';
import { Agent, request } from 'undici';
import { currentContext, Labcoat, labcoatInterceptor, point } from '../src/index.js';

/** Registers a global OpenTelemetry tracer provider and context manager for one test. */
function setupOtel(t: TestContext, options: { sampled?: boolean } = {}): { tracer: Tracer; otelSpans: InMemorySpanExporter } {
  const otelSpans = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(otelSpans)],
    ...(options.sampled === false ? { sampler: new AlwaysOffSampler() } : {}),
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  assert.ok(context.setGlobalContextManager(contextManager), 'context manager registered');
  assert.ok(trace.setGlobalTracerProvider(provider), 'tracer provider registered');
  t.after(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
  });
  return { tracer: trace.getTracer('otel-bridge-test'), otelSpans };
}

function newSdk(t: TestContext): Labcoat {
  const sdk = new Labcoat({ service: 'edge', key: 'otel-bridge-test-signing-key-000', exporter: 'memory', env: {} });
  t.after(() => sdk.shutdown());
  return sdk;
}

function clientSpans(sdk: Labcoat): SpanData[] {
  return sdk.memory!.spans.filter((s) => s.kind === 'client');
}

/** Runs `fn` inside a new active OpenTelemetry span, ends it, and returns both. */
async function inOtelSpan<T>(tracer: Tracer, fn: (span: Span) => Promise<T>): Promise<{ span: Span; result: T }> {
  return tracer.startActiveSpan('otel-parent', async (span) => {
    try {
      return { span, result: await fn(span) };
    } finally {
      span.end();
    }
  });
}

test('otel: a point call with no labcoat context becomes a child of the active OpenTelemetry span', async (t) => {
  const { tracer, otelSpans } = setupOtel(t);
  const sdk = newSdk(t);
  assert.equal(currentContext(), undefined);

  const { span, result } = await inOtelSpan(tracer, () => point('cache:get', async () => 'value', { labcoat: sdk }));
  assert.equal(result, 'value');
  const otel = span.spanContext();
  assert.match(otel.traceId, /^[0-9a-f]{32}$/);

  const [client, ...rest] = clientSpans(sdk);
  assert.equal(rest.length, 0);
  assert.ok(client);
  assert.equal(client.traceId, otel.traceId);
  assert.equal(client.parentSpanId, otel.spanId);
  assert.equal(client.name, 'cache get');
  assert.equal(otelSpans.getFinishedSpans().length, 1, 'the OpenTelemetry span itself is recorded by its SDK');
});

test('otel: nested OpenTelemetry spans — labcoat attaches to the innermost active one', async (t) => {
  const { tracer } = setupOtel(t);
  const sdk = newSdk(t);
  let inner: Span | undefined;
  const { span: outer } = await inOtelSpan(tracer, () =>
    tracer.startActiveSpan('inner', async (s) => {
      inner = s;
      try {
        return await point('users-db:select', () => 1, { labcoat: sdk });
      } finally {
        s.end();
      }
    }),
  );
  assert.ok(inner);
  const client = clientSpans(sdk)[0];
  assert.ok(client);
  assert.equal(client.traceId, outer.spanContext().traceId);
  assert.equal(client.parentSpanId, inner.spanContext().spanId);
});

test('otel: an HTTP call through the labcoat undici interceptor continues the OpenTelemetry trace', async (t) => {
  const { tracer } = setupOtel(t);
  const sdk = newSdk(t);
  const received: IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    received.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const agent = new Agent().compose(labcoatInterceptor(sdk));
  t.after(() => agent.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/profiles/7`;

  const { span, result } = await inOtelSpan(tracer, async () => {
    const res = await request(url, { dispatcher: agent });
    return res.body.text();
  });
  assert.equal(result, 'ok');
  const otel = span.spanContext();

  const client = clientSpans(sdk)[0];
  assert.ok(client);
  assert.equal(client.traceId, otel.traceId);
  assert.equal(client.parentSpanId, otel.spanId);
  assert.equal(client.attributes['http.response.status_code'], 200);

  // The callee sees the same trace, with labcoat's client span as its parent.
  const sent = parseTraceparent(received[0]?.['traceparent'] as string | undefined);
  assert.ok(sent, 'a valid traceparent was sent');
  assert.equal(sent.traceId, otel.traceId);
  assert.equal(sent.spanId, client.spanId);
  assert.equal(sent.flags & 1, 1, 'sampled, as the OpenTelemetry span is');
});

test('otel: an unsampled OpenTelemetry span still parents the labcoat span', async (t) => {
  const { tracer } = setupOtel(t, { sampled: false });
  const sdk = newSdk(t);
  const { span } = await inOtelSpan(tracer, () => point('cache:get', () => 1, { labcoat: sdk }));
  const otel = span.spanContext();
  assert.equal(otel.traceFlags & 1, 0);
  const client = clientSpans(sdk)[0];
  assert.ok(client);
  assert.equal(client.traceId, otel.traceId);
  assert.equal(client.parentSpanId, otel.spanId);
});

test("otel: with a labcoat context active, labcoat's own context wins", async (t) => {
  const { tracer } = setupOtel(t);
  const sdk = newSdk(t);
  const token = sdk.signPlan({ v: 1, id: 'exp-otel', exp: Date.now() + 60_000, rules: [{ match: { target: 'cache' }, fault: { kind: 'error' } }] });
  let labcoatTrace: string | undefined;
  let labcoatParent: string | undefined;
  let error: unknown;
  const { span } = await inOtelSpan(tracer, () =>
    sdk.run(
      async () => {
        labcoatTrace = currentContext()?.traceId;
        labcoatParent = currentContext()?.spanId;
        await point('cache:get', () => 'never', { labcoat: sdk }).catch((e: unknown) => {
          error = e;
        });
      },
      { planToken: token },
    ),
  );
  const otel = span.spanContext();
  assert.ok(labcoatTrace);
  assert.notEqual(labcoatTrace, otel.traceId);
  const client = clientSpans(sdk)[0];
  assert.ok(client);
  assert.equal(client.traceId, labcoatTrace);
  assert.equal(client.parentSpanId, labcoatParent);
  // The labcoat context carries the plan, which is why it must win.
  assert.equal((error as { code?: string } | undefined)?.code, 'ECONNREFUSED');
  assert.equal(client.attributes['labcoat.fault'], 'error:ECONNREFUSED');
  assert.equal(client.attributes['labcoat.plan.id'], 'exp-otel');
});

test('otel: with neither an OpenTelemetry span nor a labcoat context, a call starts its own trace', async (t) => {
  setupOtel(t);
  const sdk = newSdk(t);
  await point('cache:get', () => 1, { labcoat: sdk });
  await point('cache:get', () => 1, { labcoat: sdk });
  const [a, b] = clientSpans(sdk);
  assert.ok(a && b);
  assert.equal(a.parentSpanId, undefined);
  assert.equal(b.parentSpanId, undefined);
  assert.notEqual(a.traceId, b.traceId);
  assert.equal(trace.getActiveSpan(), undefined);
});
