import type { FaultAction } from '@labcoat/core';
import { getLabcoat } from '../global.js';
import type { Labcoat } from '../labcoat.js';
import { delay, garbage, networkError } from './fault-errors.js';

/** Options of a generic injection point. */
export interface PointOptions {
  /** Aborts the call; a `hang` fault waits for it. */
  signal?: AbortSignal;
  /** Resource template (`users`, `orders:*`), part of the point id. */
  route?: string;
  /** The SDK instance (default: the one from `init()`). */
  labcoat?: Labcoat;
}

/** Thrown by a generic point for a `status` fault: a dependency that answered with an error status. */
export class InjectedStatusError extends Error {
  override readonly name = 'InjectedStatusError';
  readonly labcoatInjected = true;
  constructor(
    readonly status: number,
    readonly headers: Readonly<Record<string, string>>,
    readonly body: string,
  ) {
    super(`dependency answered ${status} (injected by labcoat)`);
  }
}

/**
 * Runs `fn` as a dependency call at a named injection point, for dependencies that are not HTTP
 * (databases, caches, queues). `name` is `target:operation` (`evcache:get`) or just `target`.
 * Faults behave as they do on HTTP calls: `error` throws a network error without calling `fn`;
 * `status` throws {@link InjectedStatusError}; `delay` waits then calls; `hang` waits for
 * `signal` (or the hang's limit); `reset` calls `fn` then throws ECONNRESET (the work happened,
 * the answer was lost); `malformed` calls `fn` and damages a string or byte result (other results
 * are replaced by garbage bytes).
 *
 * @example
 * const user = await point('users-db:select', () => db.get(id), { route: 'users' });
 */
export async function point<T>(name: string, fn: (signal: AbortSignal | undefined) => T | Promise<T>, options: PointOptions = {}): Promise<T> {
  const sdk = options.labcoat ?? getLabcoat();
  if (!sdk) return fn(options.signal);
  const colon = name.indexOf(':');
  const target = colon === -1 ? name : name.slice(0, colon);
  const method = colon === -1 ? 'call' : name.slice(colon + 1);
  const call = sdk.startCall({ caller: sdk.service, target, method, route: options.route ?? '' }, `${target} ${method}`);
  try {
    const result = call.action ? await applyToPoint(call.action, fn, options.signal) : await fn(options.signal);
    call.end();
    return result;
  } catch (e) {
    call.fail(e);
    throw e;
  }
}

async function applyToPoint<T>(action: FaultAction, fn: (signal: AbortSignal | undefined) => T | Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  await delay(action.delayMs, signal);
  switch (action.type) {
    case 'refuse':
      throw networkError(action.code, action.message);
    case 'respond':
      throw new InjectedStatusError(action.status, action.headers, action.body);
    case 'hang':
      await delay(action.maxMs, signal);
      throw networkError('ETIMEDOUT', `no answer within ${action.maxMs} ms (labcoat hang)`);
    case 'proceed': {
      const result = await fn(signal);
      if (!action.body) return result;
      if (action.body.then === 'reset') throw networkError('ECONNRESET', 'read ECONNRESET (injected by labcoat)');
      return damage(result, action.body.afterBytes, action.body.then) as T;
    }
  }
}

function damage(result: unknown, afterBytes: number, how: 'truncate' | 'corrupt'): unknown {
  if (typeof result === 'string') {
    const kept = result.slice(0, afterBytes);
    return how === 'truncate' ? kept : kept + '\uFFFD'.repeat(Math.max(0, result.length - afterBytes));
  }
  if (result instanceof Uint8Array) {
    const kept = Buffer.from(result.subarray(0, afterBytes));
    return how === 'truncate' ? kept : Buffer.concat([kept, garbage(Math.max(0, result.length - afterBytes))]);
  }
  return garbage(Math.max(1, afterBytes));
}
