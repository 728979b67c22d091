/**
 * The service graph, live from `GET /api/graph`: services (critical ones marked), edges coloured by
 * error rate with their rate and latency; a click on an edge shows its injection points and recent
 * spans, a click on a service its numbers. Laid out by layout.ts, drawn by cytoscape.
 */
import type { Core, ElementDefinition, StylesheetJson } from 'cytoscape';
import { useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, api } from '../api.js';
import type { Session } from '../auth.js';
import { CyGraph } from '../components/CyGraph.js';
import { Empty, ErrorBox } from '../components/ui.js';
import { fmtCount, fmtMs, fmtPct, fmtRate, fmtTime } from '../format.js';
import { usePoll } from '../hooks.js';
import { layeredLayout } from '../layout.js';
import { href, type Route } from '../router.js';
import type { CampaignRecord, Graph as GraphData, GraphEdge, GraphNode, SpanData } from '../types.js';

const WINDOWS = ['5m', '15m', '1h', '6h', '24h'] as const;
/** Above this many services (or edges) the graph is drawn the cheap way. */
const BIG_NODES = 300;
const BIG_EDGES = 3000;

declare global {
  interface Window {
    /** Set when the graph has been drawn: for tests and the rendering benchmark. */
    __labcoatGraph?: { nodes: string[]; edges: number; renderedAtMs: number; builds: number; dataAtMs?: number; layoutMs?: number; layout: string };
  }
}

export function edgeId(e: { caller: string; callee: string }): string {
  return `${e.caller}->${e.callee}`;
}

const EDGE_COLORS = { idle: '#c3c9d1', bad: '#d1242f', warn: '#d4822a', ok: '#8b949e' } as const;

/** Edge health as a class, so that edges share cytoscape style keys (data mappers make every edge unique, which is slow at 10,000 edges). */
function edgeHealth(e: GraphEdge): keyof typeof EDGE_COLORS {
  if (e.calls === 0) return 'idle';
  if (e.errorRate >= 0.05) return 'bad';
  if (e.errorRate >= 0.01) return 'warn';
  return 'ok';
}

/** How the edge layer draws an edge of a big graph: the colour and width of its classes. */
function layerStyle(el: ElementDefinition): { color: string; width: number } {
  const classes = String(el.classes ?? '').split(' ');
  const health = (['bad', 'warn', 'idle'] as const).find((h) => classes.includes(h)) ?? 'ok';
  const w = Number(classes.find((c) => /^w\d$/.test(c))?.slice(1) ?? 1);
  return { color: EDGE_COLORS[health], width: 0.8 + w };
}

/** Edge width class w1..w6 by the log of its calls. */
function edgeWidth(e: GraphEdge): string {
  return `w${Math.max(1, Math.min(6, Math.round(Math.log10(1 + e.calls))))}`;
}

const STYLE = (big: boolean): StylesheetJson => [
  {
    selector: 'node',
    style: {
      shape: 'round-rectangle',
      width: 'data(w)',
      height: 30,
      'background-color': '#eef3fb',
      'border-color': '#4a6fa5',
      'border-width': 1.2,
      label: 'data(label)',
      'font-size': 12,
      'text-valign': 'center',
      'text-halign': 'center',
      color: '#1d2125',
      'min-zoomed-font-size': big ? 9 : 0,
    },
  },
  { selector: 'node.critical', style: { 'border-color': '#9a6700', 'border-width': 3, 'background-color': '#fff4d6' } },
  { selector: 'node.err', style: { 'border-color': '#d1242f', 'border-width': 2.5, 'background-color': '#ffebe9' } },
  {
    selector: 'edge',
    style: {
      width: 1.5,
      'line-color': EDGE_COLORS.ok,
      'curve-style': big ? 'haystack' : 'bezier',
      ...(big ? { 'haystack-radius': 0 } : { 'target-arrow-shape': 'triangle', 'target-arrow-color': EDGE_COLORS.ok, 'arrow-scale': 0.9 }),
      opacity: big ? 0.55 : 0.95,
      ...(big
        ? {}
        : {
            label: 'data(label)',
            'font-size': 9,
            color: '#57606a',
            'text-rotation': 'autorotate',
            'text-background-color': '#ffffff',
            'text-background-opacity': 0.85,
            'text-background-padding': '1px',
            'min-zoomed-font-size': 7,
          }),
    },
  },
  ...(['idle', 'warn', 'bad'] as const).map((h) => ({ selector: `edge.${h}`, style: { 'line-color': EDGE_COLORS[h], 'target-arrow-color': EDGE_COLORS[h] } })),
  ...[1, 2, 3, 4, 5, 6].map((w) => ({ selector: `edge.w${w}`, style: { width: 0.8 + w } })),
  { selector: 'edge.sel', style: { label: big ? '' : 'data(full)', 'font-size': 10, color: '#1f6feb', 'font-weight': 'bold' } },
  { selector: 'edge.sel', style: { 'line-color': '#1f6feb', 'target-arrow-color': '#1f6feb', width: 4, opacity: 1, 'z-index': 10 } },
  { selector: 'node.sel', style: { 'border-color': '#1f6feb', 'border-width': 3 } },
  { selector: 'node.hl', style: { 'border-color': '#1f6feb', 'border-width': 4, 'background-color': '#dbe9ff' } },
  { selector: 'edge.dim', style: { opacity: 0.12 } },
];

interface Selection {
  readonly id: string;
  readonly group: 'nodes' | 'edges';
}

const LAYOUTS = { layered: 'layered (fast)', breadthfirst: 'breadth-first (cytoscape)', cose: 'force-directed (cytoscape cose, slow)' } as const;
type LayoutName = keyof typeof LAYOUTS;

export function GraphView({ session, route }: { session: Session; route: Route }) {
  const [window_, setWindow] = useState<string>(route.query.get('window') ?? '5m');
  const [layout, setLayout] = useState<LayoutName>(() => {
    const l = route.query.get('layout');
    return l && l in LAYOUTS ? (l as LayoutName) : 'layered';
  });
  const [selection, setSelection] = useState<Selection | undefined>(undefined);
  const [find, setFind] = useState('');
  const [listOpen, setListOpen] = useState<boolean | undefined>(undefined);
  const cy = useRef<Core | undefined>(undefined);
  /** For the rendering benchmark: when the first graph arrived, how long the layout took. */
  const timing = useRef<{ dataAtMs?: number; layoutMs?: number }>({});
  const graph = usePoll((signal) => api.get<GraphData>(`/api/graph?window=${window_}`, { signal }), 5000, [window_]);
  // Critical services named by campaigns, when the graph does not say (see console-api-needs.md §3).
  const campaigns = usePoll((signal) => api.get<{ campaigns: CampaignRecord[] }>('/api/campaigns?limit=50', { signal }), 0, []);
  const data = graph.data;
  const serverCritical = data?.services.some((s) => s.critical !== undefined) ?? false;
  const campaignCritical = useMemo(() => criticalFromCampaigns(campaigns.data?.campaigns ?? []), [campaigns.data]);
  const isCritical = (s: GraphNode): boolean => (serverCritical ? s.critical === true : campaignCritical.has(s.name));

  const model = useMemo(() => {
    if (!data) return undefined;
    const names = data.services.map((s) => s.name);
    const known = new Set(names);
    // Edges may name services that recorded no span of their own (e.g. an uninstrumented callee).
    for (const e of data.edges) for (const n of [e.caller, e.callee]) if (!known.has(n)) (known.add(n), names.push(n));
    const structureKey = `${names.length}:${data.edges.length}:${hash(names.join('\n') + '\n' + data.edges.map(edgeId).join('\n'))}`;
    return { names, structureKey };
  }, [data]);

  const positions = useMemo(() => {
    if (!data || !model) return undefined;
    const t0 = performance.now();
    const pos = layeredLayout(model.names, data.edges.map((e) => [e.caller, e.callee] as const));
    timing.current = { dataAtMs: timing.current.dataAtMs ?? t0, layoutMs: performance.now() - t0 };
    return pos;
    // Positions depend only on the structure.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [model?.structureKey]);

  const big = (model?.names.length ?? 0) > BIG_NODES || (data?.edges.length ?? 0) > BIG_EDGES;
  const seconds = data ? Math.max(1, (data.untilMs - data.sinceMs) / 1000) : 1;

  const elements = useMemo<ElementDefinition[]>(() => {
    if (!data || !model || !positions) return [];
    const byName = new Map(data.services.map((s) => [s.name, s]));
    const els: ElementDefinition[] = [];
    for (const name of model.names) {
      const s = byName.get(name);
      const crit = s ? isCritical(s) : campaignCritical.has(name);
      const errRate = s && s.requests > 0 ? s.errors / s.requests : 0;
      els.push({
        group: 'nodes',
        data: { id: name, label: crit ? `★ ${name}` : name, w: Math.max(60, name.length * 7.2 + (crit ? 34 : 22)) },
        position: { ...(positions.get(name) ?? { x: 0, y: 0 }) },
        classes: [crit ? 'critical' : '', errRate >= 0.05 ? 'err' : ''].filter(Boolean).join(' '),
      });
    }
    for (const e of data.edges) {
      els.push({
        group: 'edges',
        data: {
          id: edgeId(e),
          source: e.caller,
          target: e.callee,
          full: big ? '' : `${fmtRate(e.calls / seconds)} · ${fmtPct(e.errorRate)} err · p99 ${fmtMs(e.p99Ms)}`,
          // Labels on the edges that need attention only (the panel has every number).
          label: big || e.errorRate < 0.01 ? '' : `${fmtPct(e.errorRate)} err · ${fmtRate(e.calls / seconds)}`,
        },
        classes: `${edgeHealth(e)} ${edgeWidth(e)}`,
      });
    }
    return els;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [data, positions, campaignCritical, serverCritical]);

  const style = useMemo(() => STYLE(big), [big]);
  // `?edges=cytoscape` draws a big graph's edges with cytoscape too (for the rendering benchmark's comparison).
  const cyEdges = route.query.get('edges') === 'cytoscape';
  const found = useMemo(() => {
    const q = find.trim().toLowerCase();
    if (!q || !model) return new Set<string>();
    return new Set(model.names.filter((n) => n.toLowerCase().includes(q)));
  }, [find, model]);

  const selectedEdge = selection?.group === 'edges' ? data?.edges.find((e) => edgeId(e) === selection.id) : undefined;
  const selectedNode = selection?.group === 'nodes' ? data?.services.find((s) => s.name === selection.id) : undefined;
  const errorServices = data ? data.services.filter((s) => s.requests > 0 && s.errors / s.requests >= 0.05).length : 0;
  const failingEdges = data ? data.edges.filter((e) => e.errorRate >= 0.05).length : 0;
  const showList = listOpen ?? (model?.names.length ?? 0) <= 50;

  return (
    <section class="view graph-view" aria-labelledby="graph-title">
      <header class="view-head">
        <h1 id="graph-title">Service graph</h1>
        <div class="toolbar">
          <label>
            Window{' '}
            <select value={window_} onChange={(e) => setWindow((e.target as HTMLSelectElement).value)}>
              {WINDOWS.map((w) => (
                <option key={w} value={w}>
                  last {w}
                </option>
              ))}
            </select>
          </label>
          <label>
            Layout{' '}
            <select value={layout} onChange={(e) => setLayout((e.target as HTMLSelectElement).value as LayoutName)}>
              {Object.entries(LAYOUTS).map(([k, v]) => (
                <option key={k} value={k}>
                  {v}
                </option>
              ))}
            </select>
          </label>
          <label>
            Find{' '}
            <input
              type="search"
              placeholder="service name"
              value={find}
              onInput={(e) => setFind((e.target as HTMLInputElement).value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && found.size > 0 && cy.current) {
                  const first = cy.current.getElementById([...found][0]!);
                  cy.current.animate({ center: { eles: first }, zoom: Math.max(cy.current.zoom(), 1) }, { duration: 200 });
                  setSelection({ id: first.id(), group: 'nodes' });
                }
              }}
            />
          </label>
          <button type="button" onClick={graph.refresh}>
            Refresh
          </button>
        </div>
      </header>
      <ErrorBox error={graph.error} title="Could not load the graph" onRetry={graph.refresh} />
      {graph.loading && !data && <p class="muted">Loading the graph…</p>}
      {data && model && model.names.length === 0 && (
        <Empty title="No services yet">
          <p>The graph is drawn from the spans your services send to this server. To see yours:</p>
          <ol>
            <li>
              Instrument each service with <code>@labcoat/node</code> (<code>init({'{'} service: 'edge' {'}'})</code>).
            </li>
            <li>
              Export spans here: <code>LABCOAT_OTLP_URL={location.origin}/v1/traces</code>.
            </li>
            <li>Send some traffic; services and edges appear within seconds (window: last {window_}).</li>
          </ol>
          <p>
            No services of your own? <code>npx labcoat demo</code> starts a 16-service demo system.
          </p>
        </Empty>
      )}
      {data && model && model.names.length > 0 && (
        <div class="graph-layout">
          <div class="graph-main">
            <p class="summary" aria-live="polite">
              {fmtCount(model.names.length)} services · {fmtCount(data.edges.length)} edges · {fmtTime(data.sinceMs)} – {fmtTime(data.untilMs)}
              {failingEdges > 0 && <span class="bad"> · {failingEdges} failing edge{failingEdges === 1 ? '' : 's'}</span>}
              {errorServices > 0 && <span class="bad"> · {errorServices} service{errorServices === 1 ? '' : 's'} with errors</span>}
            </p>
            <CyGraph
              elements={elements}
              structureKey={`${model.structureKey}:${big ? 'big' : 'small'}`}
              style={style}
              big={big}
              layout={layout === 'layered' ? 'preset' : layout}
              edgeLayerStyle={big && !cyEdges ? layerStyle : undefined}
              label={`service graph: ${model.names.length} services, ${data.edges.length} edges`}
              class="service-graph"
              highlight={found}
              selected={selection?.id}
              onSelect={(id, group) => setSelection(id && group ? { id, group } : undefined)}
              onRendered={(c, at, edgeCount) => {
                cy.current = c;
                const prev = window.__labcoatGraph;
                window.__labcoatGraph = { nodes: c.nodes().map((n) => n.id()), edges: edgeCount, renderedAtMs: at, builds: (prev?.builds ?? 0) + 1, ...timing.current, layout };
                document.documentElement.dataset['graphRendered'] = String(window.__labcoatGraph.builds);
              }}
            />
            <Legend criticalSource={serverCritical ? 'server' : campaignCritical.size > 0 ? 'campaigns' : 'none'} />
            <details class="service-list" open={showList} onToggle={(e) => setListOpen((e.target as HTMLDetailsElement).open)}>
              <summary>Services ({model.names.length})</summary>
              {showList && <ServiceTable services={data.services} extra={model.names} isCritical={isCritical} onPick={(name) => setSelection({ id: name, group: 'nodes' })} />}
            </details>
          </div>
          <aside class="panel" aria-label="details">
            {!selection && <p class="muted">Click an edge to see its injection points and recent spans; click a service for its numbers.</p>}
            {selectedEdge && <EdgePanel edge={selectedEdge} window={window_} seconds={seconds} admin={session.role === 'admin'} />}
            {selectedNode && <NodePanel node={selectedNode} critical={isCritical(selectedNode)} edges={data.edges} seconds={seconds} onPick={(id) => setSelection({ id, group: 'edges' })} />}
            {selection && !selectedEdge && !selectedNode && <p class="muted">{selection.id} is not in this window any more.</p>}
          </aside>
        </div>
      )}
    </section>
  );
}

function Legend({ criticalSource }: { criticalSource: 'server' | 'campaigns' | 'none' }) {
  return (
    <p class="legend">
      <span class="sw" style={{ background: '#8b949e' }} /> healthy <span class="sw" style={{ background: '#d4822a' }} /> ≥ 1% errors{' '}
      <span class="sw" style={{ background: '#d1242f' }} /> ≥ 5% errors <span class="crit-sw">★</span> critical service
      {criticalSource === 'campaigns' && <span class="muted"> (as named by campaigns)</span>}
      {criticalSource === 'none' && <span class="muted"> (none named yet)</span>}
    </p>
  );
}

function ServiceTable({ services, extra, isCritical, onPick }: { services: readonly GraphNode[]; extra: readonly string[]; isCritical: (s: GraphNode) => boolean; onPick: (n: string) => void }) {
  const all = new Map(services.map((s) => [s.name, s]));
  for (const n of extra) if (!all.has(n)) all.set(n, { name: n, spans: 0, requests: 0, errors: 0 });
  const rows = [...all.values()].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <table class="data" data-testid="service-table">
      <thead>
        <tr>
          <th scope="col">Service</th>
          <th scope="col">Requests</th>
          <th scope="col">Errors</th>
          <th scope="col">Critical</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((s) => (
          <tr key={s.name}>
            <td>
              <button type="button" class="link" onClick={() => onPick(s.name)} data-service={s.name}>
                {s.name}
              </button>
            </td>
            <td>{fmtCount(s.requests)}</td>
            <td class={s.requests > 0 && s.errors / s.requests >= 0.05 ? 'bad' : ''}>{s.requests > 0 ? fmtPct(s.errors / s.requests) : '–'}</td>
            <td>{isCritical(s) ? '★ yes' : ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function NodePanel({ node, critical, edges, seconds, onPick }: { node: GraphNode; critical: boolean; edges: readonly GraphEdge[]; seconds: number; onPick: (id: string) => void }) {
  const outgoing = edges.filter((e) => e.caller === node.name);
  const incoming = edges.filter((e) => e.callee === node.name);
  const list = (es: GraphEdge[], other: (e: GraphEdge) => string) =>
    es.length === 0 ? (
      <p class="muted">none</p>
    ) : (
      <ul class="plain">
        {es.map((e) => (
          <li key={edgeId(e)}>
            <button type="button" class="link" onClick={() => onPick(edgeId(e))}>
              {other(e)}
            </button>{' '}
            <span class={e.errorRate >= 0.05 ? 'bad' : 'muted'}>
              {fmtRate(e.calls / seconds)} · {fmtPct(e.errorRate)} err
            </span>
          </li>
        ))}
      </ul>
    );
  return (
    <div>
      <h2>
        {critical ? '★ ' : ''}
        {node.name}
      </h2>
      {critical && <p class="note">Critical service: failures here may fail requests; campaigns treat them as expected.</p>}
      <dl class="stats">
        <dt>Requests</dt>
        <dd>
          {fmtCount(node.requests)} ({fmtRate(node.requests / seconds)})
        </dd>
        <dt>Errors</dt>
        <dd class={node.requests > 0 && node.errors / node.requests >= 0.05 ? 'bad' : ''}>
          {fmtCount(node.errors)} ({node.requests > 0 ? fmtPct(node.errors / node.requests) : '–'})
        </dd>
        <dt>Spans</dt>
        <dd>{fmtCount(node.spans)}</dd>
      </dl>
      <h3>Calls</h3>
      {list(outgoing, (e) => `→ ${e.callee}`)}
      <h3>Called by</h3>
      {list(incoming, (e) => `${e.caller} →`)}
    </div>
  );
}

interface PointRow {
  readonly point: string;
  readonly calls: number;
  readonly errorRate: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

function EdgePanel({ edge, window, seconds, admin }: { edge: GraphEdge; window: string; seconds: number; admin: boolean }) {
  const points = usePoll(
    async (signal) => {
      const g = await api.get<GraphData>(`/api/graph?window=${window}&by=point&service=${encodeURIComponent(edge.caller)}`, { signal });
      const rows: PointRow[] = g.edges.filter((e) => e.caller === edge.caller && e.callee === edge.callee).map((e) => ({ point: e.points[0] ?? `${e.caller}->${e.callee}`, calls: e.calls, errorRate: e.errorRate, p50Ms: e.p50Ms, p99Ms: e.p99Ms }));
      return rows;
    },
    10_000,
    [edge.caller, edge.callee, window],
  );
  const spans = usePoll(
    (signal) => api.get<{ spans: SpanData[] }>(`/api/spans?caller=${encodeURIComponent(edge.caller)}&callee=${encodeURIComponent(edge.callee)}&limit=20`, { signal }),
    10_000,
    [edge.caller, edge.callee],
  );
  const rows: PointRow[] = points.data ?? edge.points.map((p) => ({ point: p, calls: NaN, errorRate: NaN, p50Ms: null, p99Ms: null }));
  const spansMissing = spans.error instanceof ApiError && spans.error.status === 404 && /no route/i.test(spans.error.message);
  return (
    <div>
      <h2 class="edge-title">
        {edge.caller} → {edge.callee}
      </h2>
      <dl class="stats">
        <dt>Rate</dt>
        <dd>
          {fmtRate(edge.calls / seconds)} ({fmtCount(edge.calls)} calls)
        </dd>
        <dt>Errors</dt>
        <dd class={edge.errorRate >= 0.05 ? 'bad' : ''}>
          {fmtPct(edge.errorRate)} ({fmtCount(edge.errors)})
        </dd>
        <dt>Latency</dt>
        <dd>
          p50 {fmtMs(edge.p50Ms)} · p99 {fmtMs(edge.p99Ms)}
        </dd>
      </dl>
      <h3>Injection points ({rows.length})</h3>
      <ErrorBox error={points.error} title="Per-point numbers" />
      <table class="data compact" data-testid="edge-points">
        <thead>
          <tr>
            <th scope="col">Point</th>
            <th scope="col">Calls</th>
            <th scope="col">Err</th>
            <th scope="col">p99</th>
            {admin && <th scope="col"><span class="sr-only">Attack</span></th>}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.point}>
              <td>
                <code>{r.point}</code>
              </td>
              <td>{Number.isNaN(r.calls) ? '…' : fmtCount(r.calls)}</td>
              <td class={r.errorRate >= 0.05 ? 'bad' : ''}>{Number.isNaN(r.errorRate) ? '…' : fmtPct(r.errorRate)}</td>
              <td>{fmtMs(r.p99Ms)}</td>
              {admin && (
                <td>
                  <a href={href('attacks', undefined, { point: r.point })} title="Create an attack on this point">
                    Attack…
                  </a>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Recent spans</h3>
      {spansMissing ? (
        <p class="note">This server has no <code>GET /api/spans</code> yet (docs/dev/console-api-needs.md §4); find a trace under Traces instead.</p>
      ) : (
        <ErrorBox error={spans.error} title="Recent spans" />
      )}
      {spans.data && spans.data.spans.length === 0 && <p class="muted">No spans of this edge are stored (retention may have removed them).</p>}
      {spans.data && spans.data.spans.length > 0 && (
        <table class="data compact" data-testid="edge-spans">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Call</th>
              <th scope="col">Took</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {spans.data.spans.map((s) => {
              const fault = s.attributes['labcoat.fault'];
              return (
                <tr key={s.spanId}>
                  <td>
                    <a href={href('traces', s.traceId)}>{fmtTime(s.startMs)}</a>
                  </td>
                  <td>
                    <code>{s.name}</code>
                  </td>
                  <td>{fmtMs(s.endMs - s.startMs)}</td>
                  <td class={s.status.code === 'error' ? 'bad' : ''}>
                    {fault !== undefined ? <span class="badge fault">fault {String(fault)}</span> : s.status.code === 'error' ? s.status.message || 'error' : 'ok'}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

function criticalFromCampaigns(list: readonly CampaignRecord[]): Set<string> {
  const out = new Set<string>();
  for (const c of list) {
    const spec = c.spec as { critical?: { services?: unknown }; classes?: { critical?: { services?: unknown } }[] } | null;
    const add = (v: unknown): void => {
      if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') out.add(s);
    };
    add(spec?.critical?.services);
    if (Array.isArray(spec?.classes)) for (const k of spec.classes) add(k?.critical?.services);
  }
  return out;
}

/** FNV-1a, enough to tell two structures apart. */
function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}
