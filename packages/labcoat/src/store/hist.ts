/**
 * Latency histograms for the service graph: log-linear bins over microseconds, 8 per power of two
 * (a bin is 9% wide, so a percentile read from the bin's geometric middle is within ±4.5%).
 * Histograms are sparse (`bin index → count`), add and subtract exactly, and travel as JSON text
 * (`{"93":12,"94":3}`), so the store can keep cumulative histograms and a window's histogram is the
 * difference of two of them.
 */

/** Bins per power of two. */
export const SUB_BINS = 8;
/** Bins in all: 1 µs … 2^40 µs (about 12.7 days); longer latencies land in the last bin. */
export const MAX_BIN = SUB_BINS * 40 - 1;

export type Hist = Map<number, number>;

/** The bin of a latency in milliseconds (negative and NaN count as 0). */
export function binOf(ms: number): number {
  const us = ms * 1000;
  if (!(us > 1)) return 0;
  const bin = Math.floor(Math.log2(us) * SUB_BINS);
  return bin > MAX_BIN ? MAX_BIN : bin;
}

/** The representative latency of a bin, in milliseconds (its geometric middle). */
export function binValueMs(bin: number): number {
  return 2 ** ((bin + 0.5) / SUB_BINS) / 1000;
}

export function addTo(into: Hist, from: Hist, sign = 1): void {
  for (const [bin, n] of from) {
    const v = (into.get(bin) ?? 0) + sign * n;
    if (v === 0) into.delete(bin);
    else into.set(bin, v);
  }
}

export function encodeHist(h: Hist): string {
  let out = '{';
  let first = true;
  for (const [bin, n] of [...h].sort((a, b) => a[0] - b[0])) {
    if (n === 0) continue;
    out += `${first ? '' : ','}"${bin}":${n}`;
    first = false;
  }
  return `${out}}`;
}

/** Parses stored histogram text; anything unreadable is an empty histogram (never throws). */
export function decodeHist(text: string | null | undefined): Hist {
  const h: Hist = new Map();
  if (!text) return h;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return h;
  }
  if (typeof parsed !== 'object' || parsed === null) return h;
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    const bin = Number(k);
    if (Number.isInteger(bin) && typeof v === 'number' && Number.isFinite(v) && v !== 0) h.set(bin, v);
  }
  return h;
}

/** The q-quantile (0 < q ≤ 1) of a histogram in milliseconds; undefined when it is empty. */
export function quantileMs(h: Hist, q: number): number | undefined {
  let total = 0;
  for (const n of h.values()) if (n > 0) total += n;
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [bin, n] of [...h].sort((a, b) => a[0] - b[0])) {
    if (n <= 0) continue;
    seen += n;
    if (seen >= rank) return round3(binValueMs(bin));
  }
  return undefined;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * A histogram as sorted `[bin, count, bin, count, …]` pairs, read straight from stored text (the
 * graph query reads two per edge, so this avoids JSON.parse and Maps); falls back to
 * {@link decodeHist} for text it did not write.
 */
export function histPairs(text: string | null | undefined): number[] {
  if (!text || text === '{}') return [];
  const out: number[] = [];
  const n = text.length;
  let i = 1;
  let ok = text.charCodeAt(0) === 123; // {
  while (ok && i < n) {
    if (text.charCodeAt(i) === 125) break; // }
    if (text.charCodeAt(i) !== 34) {
      ok = false;
      break;
    }
    i++;
    let bin = 0;
    let digits = 0;
    for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) {
      bin = bin * 10 + (c - 48);
      digits++;
    }
    if (digits === 0 || text.charCodeAt(i) !== 34 || text.charCodeAt(i + 1) !== 58) {
      ok = false;
      break;
    }
    i += 2;
    const neg = text.charCodeAt(i) === 45;
    if (neg) i++;
    let count = 0;
    digits = 0;
    for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) {
      count = count * 10 + (c - 48);
      digits++;
    }
    if (digits === 0) {
      ok = false;
      break;
    }
    if (out.length > 0 && bin <= out[out.length - 2]!) ok = false;
    out.push(bin, neg ? -count : count);
    if (text.charCodeAt(i) === 44) i++;
  }
  if (ok) return out;
  const pairs: number[] = [];
  for (const [bin, count] of [...decodeHist(text)].sort((a, b) => a[0] - b[0])) pairs.push(bin, count);
  return pairs;
}

/** `a - b` of two sorted pair lists (bins whose count drops to zero are left out). */
export function subtractPairs(a: readonly number[], b: readonly number[]): number[] {
  return mergePairs(a, b, -1);
}

/** `a + b` of two sorted pair lists. */
export function addPairs(a: readonly number[], b: readonly number[]): number[] {
  return mergePairs(a, b, 1);
}

function mergePairs(a: readonly number[], b: readonly number[], sign: 1 | -1): number[] {
  if (b.length === 0) return a as number[];
  if (a.length === 0 && sign === 1) return b as number[];
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const ba = i < a.length ? a[i]! : Infinity;
    const bb = j < b.length ? b[j]! : Infinity;
    let bin: number;
    let v: number;
    if (ba === bb) {
      bin = ba;
      v = a[i + 1]! + sign * b[j + 1]!;
      i += 2;
      j += 2;
    } else if (ba < bb) {
      bin = ba;
      v = a[i + 1]!;
      i += 2;
    } else {
      bin = bb;
      v = sign * b[j + 1]!;
      j += 2;
    }
    if (v !== 0) out.push(bin, v);
  }
  return out;
}

/** Several quantiles (ascending `qs`) of a sorted pair list, in one pass; undefined when empty. */
export function pairQuantilesMs(pairs: readonly number[], qs: readonly number[]): (number | undefined)[] {
  let total = 0;
  for (let i = 1; i < pairs.length; i += 2) if (pairs[i]! > 0) total += pairs[i]!;
  if (total === 0) return qs.map(() => undefined);
  const out: (number | undefined)[] = [];
  let seen = 0;
  let i = 0;
  for (const q of qs) {
    const rank = Math.max(1, Math.ceil(q * total));
    while (i < pairs.length && seen + Math.max(0, pairs[i + 1]!) < rank) {
      seen += Math.max(0, pairs[i + 1]!);
      i += 2;
    }
    out.push(i < pairs.length ? round3(binValueMs(pairs[i]!)) : undefined);
  }
  return out;
}

export function pairsToHist(pairs: readonly number[]): Hist {
  const h: Hist = new Map();
  for (let i = 0; i < pairs.length; i += 2) h.set(pairs[i]!, pairs[i + 1]!);
  return h;
}
