import type { SpanNode } from '@labcoat/core';

/** Draws a trace as an indented tree with durations and faults, for terminals. */
export function renderTraceTree(roots: readonly SpanNode[]): string {
  const lines: string[] = [];
  const walk = (node: SpanNode, prefix: string, last: boolean, top: boolean): void => {
    const s = node.span;
    const ms = (s.endMs - s.startMs).toFixed(1).padStart(7);
    const label = s.kind === 'client' ? String(s.attributes['labcoat.point'] ?? s.name) : `${s.service} ${s.name}`;
    const fault = s.attributes['labcoat.fault'] ? `  ⚡ ${String(s.attributes['labcoat.fault'])}` : '';
    const status = s.status.code === 'error' ? `  ✗ ${s.status.message ?? 'error'}` : '';
    lines.push(`${ms} ms  ${prefix}${top ? '' : last ? '└─ ' : '├─ '}${s.kind === 'server' ? '▶' : '→'} ${label}${fault}${status}`);
    const childPrefix = top ? prefix : prefix + (last ? '   ' : '│  ');
    node.children.forEach((c, i) => walk(c, childPrefix, i === node.children.length - 1, false));
  };
  roots.forEach((r) => walk(r, '', true, true));
  return lines.join('\n');
}

/** A plain text table with a header row. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n');
}
