/** Parses `500ms`, `30s`, `10m`, `2h` or a bare number of milliseconds. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`${option}: expected a duration like 500ms, 30s, 10m or 2h, got ${JSON.stringify(text)}`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}
