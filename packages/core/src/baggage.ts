/**
 * W3C Baggage (https://www.w3.org/TR/baggage/). labcoat owns only the members whose key starts
 * with `labcoat.`; every other member is kept byte for byte and forwarded untouched.
 */

/** One list member, kept as received so that members we do not own round-trip exactly. */
export interface BaggageMember {
  readonly key: string;
  /** The raw member text (`key=value;props`), trimmed of surrounding whitespace. */
  readonly raw: string;
}

/** Limits from the spec: propagate at least 64 members and 8192 bytes; the grammar allows 180 members. */
export const BAGGAGE_MAX_BYTES = 8192;
export const BAGGAGE_MAX_MEMBERS = 180;

const KEY = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;

/** An immutable parsed baggage header. */
export class Baggage {
  static readonly EMPTY = new Baggage([]);
  readonly members: readonly BaggageMember[];

  private constructor(members: readonly BaggageMember[]) {
    this.members = members;
  }

  /**
   * Parses one or more `baggage` header values (a request may carry the header more than once).
   * Invalid list members are dropped; members past the limits are dropped whole, never cut.
   * Never throws.
   */
  static parse(header: string | readonly string[] | undefined | null): Baggage {
    if (header == null) return Baggage.EMPTY;
    const text = typeof header === 'string' ? header : header.join(',');
    if (text.length === 0) return Baggage.EMPTY;
    const members: BaggageMember[] = [];
    let bytes = 0;
    for (const piece of text.split(',')) {
      const raw = piece.trim();
      if (raw === '') continue;
      const member = parseMember(raw);
      if (!member) continue;
      const cost = raw.length + (members.length > 0 ? 1 : 0);
      if (members.length >= BAGGAGE_MAX_MEMBERS || bytes + cost > BAGGAGE_MAX_BYTES) continue;
      bytes += cost;
      members.push(member);
    }
    return members.length === 0 ? Baggage.EMPTY : new Baggage(members);
  }

  /** The decoded value of the first member with this key, or undefined. */
  get(key: string): string | undefined {
    for (const m of this.members) {
      if (m.key === key) return decodeValue(m.raw);
    }
    return undefined;
  }

  /** The raw (still percent-encoded) value of the first member with this key. */
  getRaw(key: string): string | undefined {
    for (const m of this.members) {
      if (m.key === key) return rawValue(m.raw);
    }
    return undefined;
  }

  /**
   * Returns a baggage with `key` set to `value` (percent-encoded as needed) replacing any member
   * with that key; `undefined` removes it. Other members keep their order and bytes.
   */
  with(key: string, value: string | undefined): Baggage {
    if (!KEY.test(key)) throw new TypeError(`baggage key ${JSON.stringify(key)} is not a valid token`);
    const kept = this.members.filter((m) => m.key !== key);
    if (value !== undefined) kept.push({ key, raw: `${key}=${encodeValue(value)}` });
    return new Baggage(kept);
  }

  /** The header value, or undefined when empty. Members that would exceed 8192 bytes are dropped whole. */
  toString(): string {
    let out = '';
    for (const m of this.members) {
      const next = out === '' ? m.raw : `${out},${m.raw}`;
      if (next.length > BAGGAGE_MAX_BYTES) continue;
      out = next;
    }
    return out;
  }

  get size(): number {
    return this.members.length;
  }
}

function parseMember(raw: string): BaggageMember | undefined {
  const eq = raw.indexOf('=');
  if (eq <= 0) return undefined;
  const key = trimOws(raw.slice(0, eq));
  if (!KEY.test(key)) return undefined;
  const value = rawValue(raw);
  if (!VALUE.test(value)) return undefined;
  const semi = raw.indexOf(';', eq);
  if (semi !== -1 && !raw.slice(semi + 1).split(';').every(isProperty)) return undefined;
  return { key, raw };
}

/** property = key OWS "=" OWS value / key OWS (with OWS around the ";" before it). */
function isProperty(text: string): boolean {
  const eq = text.indexOf('=');
  if (eq === -1) return KEY.test(trimOws(text));
  return KEY.test(trimOws(text.slice(0, eq))) && VALUE.test(trimOws(text.slice(eq + 1)));
}

/** Trims OWS (space and tab) only, so no other character can hide inside a member kept raw. */
function trimOws(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, '');
}

function rawValue(raw: string): string {
  const eq = raw.indexOf('=');
  const semi = raw.indexOf(';', eq);
  return trimOws(semi === -1 ? raw.slice(eq + 1) : raw.slice(eq + 1, semi));
}

function decodeValue(raw: string): string {
  const value = rawValue(raw);
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function encodeValue(value: string): string {
  return encodeURIComponent(value);
}
