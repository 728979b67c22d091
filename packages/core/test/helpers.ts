/** Shared helpers for the core tests: a pure-JS test MAC and a few fast-check arbitraries. */
import fc from 'fast-check';
import { encodeBase64url, type PlanMac } from '../src/index.js';

/** Property-test settings: bounded so the whole core suite stays fast. */
export const RUNS = { numRuns: 300 } as const;

function fnv32(seed: number, text: string): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A keyed FNV-1a "MAC" for tests only (not cryptographic): four 32-bit lanes over key|data,
 * base64url-encoded. It satisfies the PlanMac contract, which is all decodePlan relies on.
 */
export function testMac(key: string): PlanMac & { calls: { sign: number; verify: number } } {
  const calls = { sign: 0, verify: 0 };
  const raw = (data: string): string => {
    const bytes = new Uint8Array(16);
    for (let lane = 0; lane < 4; lane++) {
      const h = fnv32(0x811c9dc5 ^ Math.imul(lane + 1, 0x9e3779b9), `${key}\u0000${lane}\u0000${data}\u0000${key}`);
      bytes[lane * 4] = h >>> 24;
      bytes[lane * 4 + 1] = (h >>> 16) & 0xff;
      bytes[lane * 4 + 2] = (h >>> 8) & 0xff;
      bytes[lane * 4 + 3] = h & 0xff;
    }
    return encodeBase64url(bytes);
  };
  return {
    calls,
    sign(data) {
      calls.sign++;
      return raw(data);
    },
    verify(data, mac) {
      calls.verify++;
      const want = raw(data);
      if (mac.length !== want.length) return false;
      let diff = 0;
      for (let i = 0; i < want.length; i++) diff |= want.charCodeAt(i) ^ mac.charCodeAt(i);
      return diff === 0;
    },
  };
}

const HEX = '0123456789abcdef'.split('');
/** Lowercase hex string of exactly `length` characters. */
export const hex = (length: number) => fc.string({ unit: fc.constantFrom(...HEX), minLength: length, maxLength: length });
/** Valid (non-zero) W3C trace id / span id. */
export const traceIdArb = hex(32).filter((s) => /[1-9a-f]/.test(s));
export const spanIdArb = hex(16).filter((s) => /[1-9a-f]/.test(s));

/**
 * Arbitrary text: mostly printable ASCII, plus any UTF-16 code unit (lone surrogates included) and
 * astral characters. (fast-check's `unit: 'binary'` costs ~0.7 s of set-up per process.)
 */
export const anyString = (maxLength: number) =>
  fc.string({
    unit: fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
      { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
    ),
    maxLength,
  });

/** RFC 7230 token characters (the W3C baggage key grammar). */
export const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".split('');
/** W3C baggage-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E. */
export const BAGGAGE_OCTETS: string[] = [];
for (let c = 0x21; c <= 0x7e; c++) {
  if (c !== 0x22 && c !== 0x2c && c !== 0x3b && c !== 0x5c) BAGGAGE_OCTETS.push(String.fromCharCode(c));
}
export const tokenArb = (maxLength = 12) => fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength });
export const baggageValueArb = (maxLength = 16) => fc.string({ unit: fc.constantFrom(...BAGGAGE_OCTETS), minLength: 0, maxLength });

/** Expects `fn` to throw an error whose `where` (and message prefix) is exactly `where`. */
export function whereOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { where?: string }).where;
  }
  return undefined;
}
