import { parseDuration } from '../duration.js';

/** `parseDuration` plus days (`7d`): retention ages are counted in days. */
export function parseLongDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)d$/.exec(text.trim());
  if (m) return Math.round(Number(m[1]) * 86_400_000);
  return parseDuration(text, option);
}

/** Parses `500MB`, `2GiB`, `1048576`: a size in bytes. */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?$/i.exec(text.trim());
  if (!m) throw new Error(`${option}: expected a size like 500MB or 2GiB, got ${JSON.stringify(text)}`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3, tb: 1e12, tib: 1024 ** 4 };
  return Math.round(Number(m[1]) * mult[unit]!);
}

/** A point in time from a query parameter: epoch milliseconds or an ISO 8601 date. */
export function parseTime(text: string): number | undefined {
  if (/^\d{1,16}$/.test(text)) return Number(text);
  const t = Date.parse(text);
  return Number.isFinite(t) ? t : undefined;
}
