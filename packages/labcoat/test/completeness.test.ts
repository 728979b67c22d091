/** The trace completeness rule, on hand-built span trees (with and without policy spans). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SpanData } from '@labcoat/core';
import { isTraceComplete } from '../src/collector.js';

const span = (spanId: string, parentSpanId: string | undefined, kind: SpanData['kind'], attributes: SpanData['attributes'] = {}): SpanData => ({
  traceId: 'a'.repeat(32),
  spanId,
  parentSpanId,
  name: spanId,
  kind,
  service: 'svc',
  startMs: 0,
  endMs: 1,
  status: { code: 'unset' },
  attributes,
});

test('a call under a policy span counts for the server span above it', () => {
  const entry = span('s1', 'p0', 'server', { 'labcoat.calls': 2 });
  const policy = span('pol', 's1', 'internal', { 'labcoat.policy': 'ratings' });
  const c1 = span('c1', 'pol', 'client', { 'url.full': 'http://x/1' });
  const c2 = span('c2', 'pol', 'client', { 'url.full': 'http://x/1', 'labcoat.fault': 'error:ECONNREFUSED' });
  const callee = span('s2', 'c1', 'server', { 'labcoat.calls': 0 });
  assert.equal(isTraceComplete([entry, policy, c1, c2, callee], 'p0'), true);
  assert.equal(isTraceComplete([entry, policy, c1, callee], 'p0'), false, 'one of the two counted calls is missing');
  assert.equal(isTraceComplete([entry, policy, c1, c2], 'p0'), false, "the real call's callee span is missing");
  assert.equal(isTraceComplete([entry, c1, c2, callee], 'p0'), false, 'the policy span itself is missing: two roots');
});
