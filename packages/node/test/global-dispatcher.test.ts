/**
 * installFetchInterceptor wraps whatever dispatcher was global before it (an application's
 * ProxyAgent or MockAgent), rather than replacing it, and puts it back on undo.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Agent, Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { Labcoat, installFetchInterceptor } from '../src/index.js';

/** An application's own dispatcher: counts what it is asked to send, then sends it through an Agent. */
class CountingDispatcher extends Dispatcher {
  readonly seen: { path: string; traceparent: boolean }[] = [];
  constructor(private readonly agent: Agent) {
    super();
  }
  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const headers = opts.headers;
    const flat = Array.isArray(headers) ? headers.map(String) : Object.keys(headers ?? {});
    this.seen.push({ path: opts.path, traceparent: flat.some((h) => h.toLowerCase() === 'traceparent') });
    return this.agent.dispatch(opts, handler);
  }
}

test('fetch goes through labcoat and then the dispatcher the application had set, which is restored on undo', async (t) => {
  const server = http.createServer((req, res) => res.end(req.headers.traceparent ? 'traced' : 'plain'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const agent = new Agent();
  const original = getGlobalDispatcher();
  t.after(async () => {
    setGlobalDispatcher(original);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await agent.close();
  });
  const app = new CountingDispatcher(agent);
  setGlobalDispatcher(app);
  const sdk = new Labcoat({ service: 'client', exporter: 'memory' });
  const undo = installFetchInterceptor(sdk);
  const again = installFetchInterceptor(sdk); // a second install does not wrap twice
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/items/1`;

  assert.equal(await (await sdk.run(() => fetch(url))).text(), 'traced');
  assert.deepEqual(app.seen, [{ path: '/items/1', traceparent: true }]);
  assert.equal(sdk.memory!.spans.filter((s) => s.kind === 'client').length, 1, 'one client span, not two');

  again();
  undo();
  assert.equal(getGlobalDispatcher(), app);
  assert.equal(await (await fetch(url)).text(), 'plain');
  assert.equal(sdk.memory!.spans.filter((s) => s.kind === 'client').length, 1, 'no span after undo');
});
