import { routeFor, type PointDescriptor } from '@labcoat/core';
import type { Labcoat } from '../labcoat.js';

/** Builds the injection point of an HTTP call from its parts (shared by every HTTP transport). */
export function httpPoint(sdk: Labcoat, hostname: string, port: string | number, method: string, path: string): PointDescriptor {
  const target = sdk.targets.resolve(hostname, port);
  return { caller: sdk.service, target, method: method.toUpperCase(), route: routeFor(path, sdk.routesFor(target)) };
}

/** Span name for an HTTP client call: `GET profiles /profiles/:id`. */
export function httpSpanName(p: PointDescriptor): string {
  return `${p.method} ${p.target} ${p.route}`;
}
