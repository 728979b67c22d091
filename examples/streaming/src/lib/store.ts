import { point } from '@labcoat/node';

/**
 * Reads from a service's own store through a generic injection point (`<store>:<op>`, resource
 * `route`). Stores answer bytes, not objects: the value is serialised inside the point and parsed
 * after it, as a driver would decode a reply, so a damaged answer (a `malformed` fault) is an error
 * here rather than a strange object further on. `undefined` means "no such record".
 */
export async function storeRead<T>(name: string, route: string, read: () => T | undefined, signal: AbortSignal): Promise<T | undefined> {
  const raw: unknown = await point(name, () => JSON.stringify(read() ?? null), { route, signal });
  if (typeof raw !== 'string') throw new Error(`${name}: the store's answer is not text`);
  const value = JSON.parse(raw) as T | null;
  return value ?? undefined;
}
