/**
 * Toxics: Toxiproxy's TCP toxics with its exact JSON shape and semantics
 * (`{ name, type, stream, toxicity, attributes }`), plus labcoat's HTTP toxics for HTTP-aware
 * proxies (`http_status`, `http_error`, `http_delay`, `http_hang`, `http_reset`, `http_malformed`,
 * `http_bandwidth`), which map onto the data plane's fault kinds.
 */
import { compileFault, compileGlob, type CompiledFault, type FaultSpec } from '@labcoat/core';

export type ToxicStream = 'upstream' | 'downstream';
export type AttributeValue = number | string;

/** A toxic as the admin API shows it (Toxiproxy v2's JSON). */
export interface ToxicJson {
  readonly name: string;
  readonly type: string;
  readonly stream: ToxicStream;
  readonly toxicity: number;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

/** An error the admin API answers with (Toxiproxy's `{ "error": …, "status": … }`). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

interface AttrSpec {
  readonly kind: 'int' | 'string';
  readonly default: AttributeValue;
  readonly min?: number;
  readonly max?: number;
}

interface ToxicType {
  readonly protocol: 'tcp' | 'http';
  readonly summary: string;
  readonly attributes: Readonly<Record<string, AttrSpec>>;
  /** Extra checks across attributes; throws ApiError. */
  check?(a: Record<string, AttributeValue>): void;
}

const int = (def = 0, min = 0, max = Number.MAX_SAFE_INTEGER): AttrSpec => ({ kind: 'int', default: def, min, max });
const str = (def = '', max = 65536): AttrSpec => ({ kind: 'string', default: def, max });
const HTTP_COMMON = { first: int(0, 0, 1_000_000), method: str('', 16), path: str('', 512) };

/** Every toxic type the proxy knows, by name. */
export const TOXIC_TYPES: ReadonlyMap<string, ToxicType> = new Map<string, ToxicType>([
  ['latency', { protocol: 'tcp', summary: 'delay all data by latency ± jitter ms', attributes: { latency: int(), jitter: int() } }],
  ['bandwidth', { protocol: 'tcp', summary: 'limit the stream to rate KB/s', attributes: { rate: int() } }],
  ['slow_close', { protocol: 'tcp', summary: 'delay the close by delay ms', attributes: { delay: int() } }],
  ['timeout', { protocol: 'tcp', summary: 'drop all data; close after timeout ms without data (0: never)', attributes: { timeout: int() } }],
  ['reset_peer', { protocol: 'tcp', summary: 'TCP RST timeout ms after the first data', attributes: { timeout: int() } }],
  [
    'slicer',
    {
      protocol: 'tcp',
      summary: 'slice data into average_size ± size_variation byte packets, delay µs apart',
      attributes: { average_size: int(), size_variation: int(), delay: int() },
      check(a) {
        if ((a['average_size'] as number) < 1) throw new ApiError('bad request body: slicer: average_size must be at least 1', 400);
        if ((a['size_variation'] as number) >= (a['average_size'] as number)) throw new ApiError('bad request body: slicer: size_variation must be smaller than average_size', 400);
      },
    },
  ],
  ['limit_data', { protocol: 'tcp', summary: 'close the connection after bytes bytes', attributes: { bytes: int() } }],
  ['http_status', { protocol: 'http', summary: 'answer status with body; upstream not called', attributes: { status: int(503, 100, 599), body: str(), retry_after: int(-1, -1, 86400), ...HTTP_COMMON } }],
  ['http_error', { protocol: 'http', summary: 'reset the connection before any response byte', attributes: { ...HTTP_COMMON } }],
  ['http_delay', { protocol: 'http', summary: 'forward after latency ± jitter ms', attributes: { latency: int(0, 0, 600_000), jitter: int(0, 0, 600_000), ...HTTP_COMMON } }],
  ['http_hang', { protocol: 'http', summary: 'never answer; reset after timeout ms (default 60000) or when the client gives up', attributes: { timeout: int(60_000, 1, 600_000), ...HTTP_COMMON } }],
  ['http_reset', { protocol: 'http', summary: 'forward; reset the connection after the headers and after_bytes of body', attributes: { after_bytes: int(0, 0, 1 << 30), ...HTTP_COMMON } }],
  [
    'http_malformed',
    {
      protocol: 'http',
      summary: 'forward; truncate or corrupt the body after after_bytes',
      attributes: { mode: str('truncate', 16), after_bytes: int(1, 0, 1 << 30), ...HTTP_COMMON },
      check(a) {
        if (a['mode'] !== 'truncate' && a['mode'] !== 'corrupt') throw new ApiError('bad request body: http_malformed: mode must be truncate or corrupt', 400);
      },
    },
  ],
  ['http_bandwidth', { protocol: 'http', summary: 'forward; the body (response downstream, request upstream) at rate KB/s', attributes: { rate: int(0, 0, 1 << 30), ...HTTP_COMMON } }],
]);

/** A toxic on a proxy: its JSON plus what the data plane needs, recomputed on update. */
export class Toxic {
  /** Bumped on every update, so links know to rebuild their stage. */
  version = 0;
  /** HTTP toxics: matching requests seen (for `first`). */
  fired = 0;
  http: HttpToxicPlan | undefined;
  constructor(
    public name: string,
    readonly type: string,
    readonly stream: ToxicStream,
    public toxicity: number,
    public attributes: Record<string, AttributeValue>,
  ) {
    this.http = httpPlan(this);
  }

  toJSON(): ToxicJson {
    return { name: this.name, type: this.type, stream: this.stream, toxicity: this.toxicity, attributes: { ...this.attributes } };
  }

  num(key: string): number {
    const v = this.attributes[key];
    return typeof v === 'number' ? v : 0;
  }

  /** Applies `{ attributes, toxicity }` from an update (Toxiproxy: other fields are ignored). */
  update(body: unknown): void {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError('bad request body: expected a JSON object', 400);
    const b = body as Record<string, unknown>;
    const type = TOXIC_TYPES.get(this.type)!;
    const attributes = b['attributes'] === undefined ? { ...this.attributes } : parseAttributes(type, this.type, b['attributes'], this.attributes);
    const toxicity = b['toxicity'] === undefined ? this.toxicity : parseToxicity(b['toxicity']);
    this.attributes = attributes;
    this.toxicity = toxicity;
    this.fired = 0;
    this.version++;
    this.http = httpPlan(this);
  }
}

/** What an HTTP toxic injects, compiled once per version. */
export interface HttpToxicPlan {
  readonly fault: CompiledFault | undefined;
  /** http_bandwidth: KB/s on the body in the toxic's stream direction. */
  readonly rateKBps: number;
  readonly first: number;
  readonly method: ((m: string) => boolean) | undefined;
  readonly path: ((p: string) => boolean) | undefined;
  readonly label: string;
}

function httpPlan(t: Toxic): HttpToxicPlan | undefined {
  if (!t.type.startsWith('http_')) return undefined;
  let spec: FaultSpec | undefined;
  switch (t.type) {
    case 'http_status':
      spec = { kind: 'status', status: t.num('status'), body: String(t.attributes['body'] ?? ''), ...(t.num('retry_after') >= 0 ? { retryAfter: t.num('retry_after') } : {}) };
      break;
    case 'http_error':
      spec = { kind: 'error', code: 'ECONNRESET' };
      break;
    case 'http_delay':
      spec = { kind: 'delay', ms: t.num('latency'), jitterMs: t.num('jitter') };
      break;
    case 'http_hang':
      spec = { kind: 'hang', maxMs: t.num('timeout') };
      break;
    case 'http_reset':
      spec = { kind: 'reset', afterBytes: t.num('after_bytes') };
      break;
    case 'http_malformed':
      spec = { kind: 'malformed', mode: String(t.attributes['mode']), afterBytes: t.num('after_bytes') };
      break;
    default:
      spec = undefined;
  }
  const method = String(t.attributes['method'] ?? '');
  const path = String(t.attributes['path'] ?? '');
  const fault = spec ? compileFault(spec, `toxics.${t.name}`) : undefined;
  return {
    fault,
    rateKBps: t.type === 'http_bandwidth' ? t.num('rate') : 0,
    first: t.num('first'),
    method: method ? compileGlob(method, true) : undefined,
    path: path ? compileGlob(path) : undefined,
    label: fault ? fault.label : `bandwidth:${t.num('rate')}KBps`,
  };
}

function parseToxicity(v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new ApiError('bad request body: toxicity must be a number from 0 to 1', 400);
  return v;
}

function parseAttributes(type: ToxicType, typeName: string, input: unknown, base?: Readonly<Record<string, AttributeValue>>): Record<string, AttributeValue> {
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    throw new ApiError('bad request body: attributes must be an object', 400);
  }
  const given = (input ?? {}) as Record<string, unknown>;
  const out: Record<string, AttributeValue> = {};
  for (const [key, spec] of Object.entries(type.attributes)) {
    const v = given[key];
    if (v === undefined) {
      out[key] = base?.[key] ?? spec.default;
      continue;
    }
    if (spec.kind === 'int') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min! || v > spec.max!) {
        throw new ApiError(`bad request body: ${typeName}: attribute ${key} must be an integer from ${spec.min} to ${spec.max}, got ${JSON.stringify(v)}`, 400);
      }
    } else if (typeof v !== 'string' || v.length > spec.max!) {
      throw new ApiError(`bad request body: ${typeName}: attribute ${key} must be a string of at most ${spec.max} characters`, 400);
    }
    out[key] = v;
  }
  type.check?.(out);
  return out;
}

/**
 * Validates a toxic from the admin API (POST /proxies/{proxy}/toxics) with Toxiproxy's defaults:
 * stream `downstream`, toxicity 1, name `<type>_<stream>`; missing attributes are 0.
 */
export function parseToxic(body: unknown, protocol: 'tcp' | 'http'): Toxic {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError('bad request body: expected a JSON object', 400);
  const b = body as Record<string, unknown>;
  const stream = b['stream'] ?? 'downstream';
  if (stream !== 'upstream' && stream !== 'downstream') throw new ApiError('stream was invalid, can be either upstream or downstream', 400);
  const typeName = b['type'];
  const type = typeof typeName === 'string' ? TOXIC_TYPES.get(typeName) : undefined;
  if (!type) throw new ApiError(`invalid toxic type: ${JSON.stringify(typeName)}; known: ${[...TOXIC_TYPES.keys()].join(', ')}`, 400);
  if (type.protocol !== protocol) {
    throw new ApiError(
      type.protocol === 'http'
        ? `invalid toxic type: ${String(typeName)} needs an HTTP-aware proxy (protocol "http"); this proxy forwards TCP`
        : `invalid toxic type: ${String(typeName)} is a TCP toxic; this proxy speaks HTTP (protocol "http"): use http_delay, http_bandwidth, http_reset, http_hang, http_status, http_error or http_malformed`,
      400,
    );
  }
  const name = b['name'] === undefined || b['name'] === '' ? `${String(typeName)}_${stream}` : b['name'];
  if (typeof name !== 'string' || !/^[\w.:-]{1,128}$/.test(name)) throw new ApiError('bad request body: name must be 1-128 characters from A-Z a-z 0-9 _ . : -', 400);
  const toxicity = b['toxicity'] === undefined ? 1 : parseToxicity(b['toxicity']);
  const attributes = parseAttributes(type, typeName as string, b['attributes']);
  return new Toxic(name, typeName as string, stream, toxicity, attributes);
}
