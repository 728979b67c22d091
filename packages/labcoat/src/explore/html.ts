/**
 * The HTML report: one self-contained file (inline CSS, inline SVG, a few lines of inline script,
 * no external URL). Per request class: the certificate line, the call graph the spans showed
 * (services as nodes, injection points as edges, laid out with dagre in Node), the failure sets
 * with their faulted points highlighted on the graph, notes, and the experiment log.
 */
import dagre from '@dagrejs/dagre';
import { parsePointId } from '@labcoat/core';
import { certificateLine } from './report.js';
import type { ClassReport, ExplorationReport } from './types.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

function edgeLabel(point: string): string {
  const p = parsePointId(point);
  if (!p) return point;
  const text = p.route ? `${p.method} ${p.route}` : p.method;
  return text.length > 34 ? `${text.slice(0, 33)}…` : text;
}

/** Lays out the class's call graph and draws it as SVG; edges carry `data-point` for highlighting. */
export function renderGraphSvg(cls: ClassReport): string {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 28, ranksep: 90, edgesep: 14, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const s of cls.graph.services) g.setNode(s, { label: s, width: Math.max(70, s.length * 8 + 28), height: 34 });
  for (const e of cls.graph.edges) {
    const label = edgeLabel(e.point);
    g.setEdge(e.from, e.to, { label, width: label.length * 6.2 + 8, height: 16, labelpos: 'c' }, e.point);
  }
  dagre.layout(g);
  const graph = g.graph() as { width?: number; height?: number };
  const width = Math.ceil(graph.width ?? 200);
  const height = Math.ceil(graph.height ?? 100);
  const bad = new Set<string>();
  const critical = new Set<string>();
  for (const fs of cls.failureSets) for (const f of fs.faults) (fs.critical ? critical : bad).add(f.point);
  const parts: string[] = [];
  parts.push(`<svg class="graph" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="call graph of ${esc(cls.name)}">`);
  parts.push('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="context-stroke"/></marker></defs>');
  for (const e of g.edges()) {
    const label = g.edge(e) as { points?: { x: number; y: number }[]; x?: number; y?: number; label?: string };
    const pts = label.points ?? [];
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join('');
    const point = e.name ?? '';
    const cls2 = bad.has(point) ? 'edge bad' : critical.has(point) ? 'edge crit' : 'edge';
    parts.push(
      `<g class="${cls2}" data-point="${esc(point)}"><title>${esc(point)}</title><path d="${d}" marker-end="url(#arrow)"/>` +
        (label.x !== undefined && label.y !== undefined ? `<text x="${label.x.toFixed(1)}" y="${(label.y + 4).toFixed(1)}" text-anchor="middle">${esc(label.label ?? '')}</text>` : '') +
        '</g>',
    );
  }
  for (const id of g.nodes()) {
    const n = g.node(id) as { x: number; y: number; width: number; height: number };
    parts.push(
      `<g class="node"><rect x="${(n.x - n.width / 2).toFixed(1)}" y="${(n.y - n.height / 2).toFixed(1)}" width="${n.width}" height="${n.height}" rx="6"/>` +
        `<text x="${n.x.toFixed(1)}" y="${(n.y + 5).toFixed(1)}" text-anchor="middle">${esc(id)}</text></g>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2125;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 4px}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
.sum{color:#555}.ok{color:#1a7f37}.bug{color:#c62828}.warn{color:#9a6700}.dim{color:#666}
table{border-collapse:collapse;margin:8px 0;width:100%}th,td{border-bottom:1px solid #e3e3e3;padding:4px 8px;text-align:left;vertical-align:top}
th{font-weight:600;background:#f6f8fa}tr.fs{cursor:pointer}tr.fs:hover,tr.fs.on{background:#fff4e5}
.graphbox{overflow:auto;border:1px solid #e3e3e3;border-radius:6px;padding:8px;margin:8px 0;background:#fcfcfd}
svg.graph .node rect{fill:#eef3fb;stroke:#4a6fa5;stroke-width:1.2}svg.graph .node text{font-size:13px;fill:#1d2125}
svg.graph .edge path{fill:none;stroke:#8b949e;stroke-width:1.4}svg.graph .edge text{font-size:10.5px;fill:#57606a;font-family:ui-monospace,Menlo,Consolas,monospace}
svg.graph .edge.bad path{stroke:#e57373;stroke-width:2;stroke-dasharray:5 3}svg.graph .edge.crit path{stroke:#f0b35b;stroke-dasharray:5 3}
svg.graph .edge.hl path{stroke:#c62828;stroke-width:3.5;stroke-dasharray:none}svg.graph .edge.hl text{fill:#c62828;font-weight:700}
details{margin:8px 0}summary{cursor:pointer;color:#444}
`;

const SCRIPT = `
document.querySelectorAll('section.cls').forEach(function(sec){
  var rows=sec.querySelectorAll('tr.fs');
  function show(row){
    rows.forEach(function(r){r.classList.toggle('on',r===row)});
    var pts=row?JSON.parse(row.getAttribute('data-points')):[];
    sec.querySelectorAll('svg .edge').forEach(function(e){e.classList.toggle('hl',pts.indexOf(e.getAttribute('data-point'))>=0)});
  }
  rows.forEach(function(r){r.addEventListener('mouseenter',function(){show(r)});r.addEventListener('click',function(){show(r)})});
});
`;

function classSection(cls: ClassReport): string {
  const bugs = cls.failureSets.filter((f) => !f.critical).length;
  const line = certificateLine(cls);
  const lineClass = !cls.certified.complete ? 'warn' : bugs > 0 ? 'bug' : 'ok';
  const rows = cls.failureSets
    .map(
      (fs, i) =>
        `<tr class="fs" data-points="${esc(JSON.stringify(fs.faults.map((f) => f.point)))}"><td>${i + 1}</td>` +
        `<td class="mono">${fs.faults.map((f) => `${esc(f.point)} · ${esc(f.mode === f.kind ? f.kind : `${f.kind} ${f.mode}`)}`).join('<br>+ ')}</td>` +
        `<td>${esc(fs.symptom)}</td><td class="mono">${fs.faults.map((f) => esc(f.path.join(' → '))).join('<br>')}</td>` +
        `<td>${fs.critical ? '<span class="dim">critical</span>' : `<span class="bug">bug${fs.flaky ? ' (flaky)' : ''}</span>`}</td>` +
        `<td>${fs.experiment}${fs.neverFired.length ? `<br><span class="dim">never fired: ${esc(fs.neverFired.map((f) => f.point).join(', '))}</span>` : ''}</td></tr>`,
    )
    .join('');
  const log = cls.log
    .map(
      (r) =>
        `<tr><td>${r.id}</td><td>${esc(r.purpose)}${r.tieBreak ? ' (decided)' : ''}</td><td class="mono">${r.faults.map((f) => `${esc(f.point)} · ${esc(f.mode)}${r.fired.some((x) => x.point === f.point) ? '' : ' <span class="dim">(never fired)</span>'}`).join('<br>') || '—'}</td>` +
        `<td class="${r.ok ? 'ok' : 'bug'}">${r.ok ? 'ok' : esc(r.symptom ?? 'failed')}</td><td>${r.durationMs} ms${r.complete ? '' : ' <span class="warn">incomplete trace</span>'}</td></tr>`,
    )
    .join('');
  return `<section class="cls">
<h2>${esc(cls.name)} <span class="dim mono">${esc(cls.request)}</span></h2>
<p class="${lineClass}">${esc(line)}</p>
<p class="sum">${cls.experiments} experiments · ${cls.points.length} injection points · ${cls.supports} supports · stopped: ${esc(cls.stopped)} · ${(cls.durationMs / 1000).toFixed(1)} s</p>
<div class="graphbox">${renderGraphSvg(cls)}</div>
${cls.failureSets.length ? `<table><thead><tr><th>#</th><th>faults (point · kind)</th><th>what the user sees</th><th>path of the failing call</th><th></th><th>experiment</th></tr></thead><tbody>${rows}</tbody></table><p class="dim">Hover a failure set to highlight its faulted points on the graph.</p>` : ''}
${cls.neverFired.length ? `<p class="dim">Planned faults that never fired (their calls were not reached): <span class="mono">${esc(cls.neverFired.join(', '))}</span></p>` : ''}
${cls.notes.length ? `<ul>${cls.notes.map((n) => `<li class="warn">${esc(n)}</li>`).join('')}</ul>` : ''}
<details><summary>injection points (${cls.points.length})</summary><ul class="mono">${cls.points.map((p) => `<li>${esc(p)}</li>`).join('')}</ul></details>
<details><summary>experiment log (${cls.log.length})</summary><table><thead><tr><th>id</th><th>purpose</th><th>faults</th><th>verdict</th><th>time</th></tr></thead><tbody>${log}</tbody></table></details>
</section>`;
}

/** Renders the whole report as one HTML document with no external reference. */
export function renderHtml(report: ExplorationReport): string {
  const title = `labcoat explore — ${report.bugs > 0 ? `${report.bugs} failure set${report.bugs === 1 ? '' : 's'}` : report.certified ? 'certified' : 'no failure set found'}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="sum">${report.experiments} experiments · up to ${report.maxFaults} faults per set · fault modes ${esc(Object.keys(report.faults).join(', '))} · started ${esc(report.startedAt)} · ${(report.durationMs / 1000).toFixed(1)} s</p>
${report.classes.map(classSection).join('\n')}
<script>${SCRIPT}</script>
</body></html>
`;
}
