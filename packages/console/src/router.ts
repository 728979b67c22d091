/** Hash routes (`#/attacks`, `#/campaigns/cmp_x`): work under any static server, no fallback needed. */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  readonly view: 'graph' | 'attacks' | 'campaigns' | 'traces';
  /** The segment after the view, decoded (`cmp_x`, a trace id). */
  readonly id?: string;
  readonly query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const [pathPart = '', queryPart = ''] = raw.split('?', 2);
  const [view = '', id] = pathPart.split('/');
  const v = (['graph', 'attacks', 'campaigns', 'traces'] as const).find((x) => x === view) ?? 'graph';
  let decoded: string | undefined;
  try {
    decoded = id ? decodeURIComponent(id) : undefined;
  } catch {
    decoded = undefined;
  }
  return { view: v, ...(decoded ? { id: decoded } : {}), query: new URLSearchParams(queryPart) };
}

export function href(view: Route['view'], id?: string, query?: Record<string, string>): string {
  const q = query ? new URLSearchParams(query).toString() : '';
  return `#/${view}${id ? `/${encodeURIComponent(id)}` : ''}${q ? `?${q}` : ''}`;
}

export function navigate(to: string): void {
  if (location.hash !== to) location.hash = to;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = (): void => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
