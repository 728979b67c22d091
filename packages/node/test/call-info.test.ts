/**
 * withTraceHeaders: labcoat's headers replace any the caller set (whatever their case), every other
 * header is kept, every header shape HTTP clients use works, and the caller's object is untouched.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withTraceHeaders } from '../src/outbound/call-info.js';

const ADD = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', baggage: 'userId=ada', 'labcoat-ask': 'service' };
const TP = ADD.traceparent;

test('object headers: own names replaced in any case, others kept, input untouched', () => {
  const input = { Accept: 'application/json', TraceParent: 'stale', BAGGAGE: 'old=1', 'x-seven': 'abcdefg', tracestate: 'a=b', 'labcoat-ask': 'x', skip: undefined };
  const copy = { ...input };
  const out = withTraceHeaders(input, ADD);
  assert.deepEqual(out, { Accept: 'application/json', 'x-seven': 'abcdefg', traceparent: TP, baggage: 'userId=ada', 'labcoat-ask': 'service' });
  assert.deepEqual(input, copy);
});

test('flat array, Headers and Map shapes', () => {
  assert.deepEqual(withTraceHeaders(['Accept', '*/*', 'Traceparent', 'stale'], ADD), ['Accept', '*/*', 'traceparent', TP, 'baggage', 'userId=ada', 'labcoat-ask', 'service']);
  const fromHeaders = withTraceHeaders(new Headers({ accept: 'text/plain', tracestate: 'x=y' }), { traceparent: TP });
  assert.deepEqual(fromHeaders, { accept: 'text/plain', traceparent: TP });
  assert.deepEqual(withTraceHeaders(new Map([['Baggage', 'b=1'], ['user-agent', 'k6']]), { traceparent: TP }), { 'user-agent': 'k6', traceparent: TP });
});

test('no headers, or something that is not headers: only labcoat\'s', () => {
  for (const h of [undefined, null, 'nonsense', 42]) assert.deepEqual(withTraceHeaders(h, { traceparent: TP, tracestate: 'k=v' }), { traceparent: TP, tracestate: 'k=v' });
});
