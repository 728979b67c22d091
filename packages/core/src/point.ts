/**
 * Injection point identity. A point is one kind of dependency call made by one service:
 *
 *     <caller>-><target> <METHOD> <route template>        e.g.  edge->profiles GET /profiles/:id
 *     <caller>-><target> <operation>                      e.g.  edge->evcache get      (generic point)
 *
 * The same call gets the same id in every run and every process, because each part is derived
 * from configuration and the request's shape, never from ids, ports chosen at runtime or time:
 * - caller: the service name the SDK was configured with;
 * - target: resolved by the transport (see packages/node `resolveTarget`): explicit host map,
 *   then the name the callee announced in an earlier reply, then the DNS host's first label;
 * - METHOD: the HTTP method upper-cased, or the generic point's operation as given;
 * - route template: a declared template for that target when one matches, otherwise the path
 *   with the query dropped and every id-like segment replaced by `:id` (see `templatePath`).
 */

export interface PointDescriptor {
  readonly caller: string;
  readonly target: string;
  /** HTTP method (upper case) or, for a generic point, the operation name. */
  readonly method: string;
  /** Route template (`/profiles/:id`); empty for generic points without a resource. */
  readonly route: string;
}

/** Formats a point id from its parts. */
export function pointId(p: PointDescriptor): string {
  const base = `${p.caller}->${p.target} ${p.method}`;
  return p.route === '' ? base : `${base} ${p.route}`;
}

const POINT_ID = /^([^\s>]+)->(\S+) (\S+)(?: (\S.*))?$/;

/** Parses a point id back into its parts; undefined when it is not one. */
export function parsePointId(id: string): PointDescriptor | undefined {
  const m = POINT_ID.exec(id);
  if (!m) return undefined;
  return { caller: m[1]!, target: m[2]!, method: m[3]!, route: m[4] ?? '' };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DIGITS = /^\d+$/;
const HEX_ID = /^(?=.*\d)[0-9a-f]{8,}$/i;
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const LONG_MIXED = /^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-=.~]{16,}$/;

/** True for a path segment that names an instance rather than a route: numbers, UUIDs, hex/ULID ids, long mixed tokens. */
export function isIdSegment(segment: string): boolean {
  let s = segment;
  if (s.includes('%')) {
    try {
      s = decodeURIComponent(s);
    } catch {
      return true;
    }
  }
  return DIGITS.test(s) || UUID.test(s) || HEX_ID.test(s) || ULID.test(s) || LONG_MIXED.test(s) || s.includes('@');
}

/** Strips the query and fragment and replaces id-like segments with `:id`. `/a/42?x=1` → `/a/:id`. */
export function templatePath(path: string): string {
  let p = path;
  const q = p.search(/[?#]/);
  if (q !== -1) p = p.slice(0, q);
  if (p === '' || p === '/') return '/';
  const segments = p.split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s !== '' && isIdSegment(s)) segments[i] = ':id';
  }
  let out = segments.join('/');
  if (!out.startsWith('/')) out = `/${out}`;
  if (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  return out;
}

/**
 * A declared route template (`/users/:uid/avatar`, `/files/*`), matched against concrete paths.
 * `:name` matches one segment, `*` at the end matches the rest.
 */
export class RouteTemplate {
  readonly template: string;
  private readonly pattern: RegExp;
  constructor(template: string) {
    this.template = template;
    const parts = template.split('/').map((seg, i, all) => {
      if (seg.startsWith(':')) return '[^/]+';
      if (seg === '*' && i === all.length - 1) return '.*';
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    });
    this.pattern = new RegExp(`^${parts.join('/')}/?$`);
  }
  matches(path: string): boolean {
    const q = path.search(/[?#]/);
    return this.pattern.test(q === -1 ? path : path.slice(0, q));
  }
}

/** Picks the first declared template matching `path`, else `templatePath(path)`. */
export function routeFor(path: string, declared: readonly RouteTemplate[] | undefined): string {
  if (declared) {
    for (const t of declared) if (t.matches(path)) return t.template;
  }
  return templatePath(path);
}
