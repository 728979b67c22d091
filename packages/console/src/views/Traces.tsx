/**
 * Traces: find one by id or list the latest of a request class, and show it as a tree of spans
 * with timing bars (offset and duration relative to the whole trace), faults and errors marked.
 */
import { Fragment } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import { ApiError, api } from '../api.js';
import { Badge, Empty, ErrorBox, Field } from '../components/ui.js';
import { fmtMs, fmtTime } from '../format.js';
import { usePoll } from '../hooks.js';
import { href, navigate, type Route } from '../router.js';
import type { SpanData, TraceSummary } from '../types.js';

const TRACE_ID = /^[0-9a-f]{32}$/;

export function TracesView({ route }: { route: Route }) {
  const [idText, setIdText] = useState(route.id ?? '');
  const [idError, setIdError] = useState<string | undefined>(undefined);
  const cls = route.query.get('class') ?? '';
  const [classText, setClassText] = useState(cls);

  const findById = (e: Event): void => {
    e.preventDefault();
    const t = idText.trim().toLowerCase().replace(/^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/, '$1');
    if (!TRACE_ID.test(t)) {
      setIdError('a trace id is 32 hex characters (a traceparent header works too)');
      return;
    }
    setIdError(undefined);
    navigate(href('traces', t));
  };
  const findByClass = (e: Event): void => {
    e.preventDefault();
    navigate(href('traces', undefined, classText.trim() ? { class: classText.trim() } : { class: '' }));
  };

  return (
    <section class="view traces-view" aria-labelledby="traces-title">
      <header class="view-head">
        <h1 id="traces-title">Traces</h1>
      </header>
      <div class="grid two">
        <form class="card" onSubmit={findById} noValidate>
          <h2>By trace id</h2>
          <Field label="Trace id" id="trace-id" error={idError} hint="32 hex characters, from a traceparent or a log line">
            <input id="trace-id" class="mono" value={idText} onInput={(e) => setIdText((e.target as HTMLInputElement).value)} placeholder="4bf92f3577b34da6a3ce929d0e0e4736" aria-invalid={idError ? 'true' : undefined} />
          </Field>
          <button type="submit" class="primary">
            Show trace
          </button>
        </form>
        <form class="card" onSubmit={findByClass} noValidate>
          <h2>By request class</h2>
          <ClassPicker value={classText} onChange={setClassText} />
          <button type="submit" class="primary">
            Find traces
          </button>
        </form>
      </div>
      {route.id ? <TraceTree traceId={route.id} /> : route.query.has('class') ? <TraceList cls={cls} /> : null}
    </section>
  );
}

function ClassPicker({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const classes = usePoll((signal) => api.get<{ classes: { service: string; class: string; count: number }[] }>('/api/traces/classes?window=1h', { signal }), 0, []);
  return (
    <Field label="Request class" id="trace-class" hint="the entry request: METHOD /route, e.g. GET /home">
      <input id="trace-class" value={value} onInput={(e) => onChange((e.target as HTMLInputElement).value)} list="trace-class-list" placeholder="GET /home" autoComplete="off" />
      <datalist id="trace-class-list">
        {classes.data?.classes.map((c) => (
          <option key={c.service + c.class} value={c.class}>
            {c.service} · {c.count} traces
          </option>
        ))}
      </datalist>
    </Field>
  );
}

function TraceList({ cls }: { cls: string }) {
  const list = usePoll((signal) => api.get<{ traces: TraceSummary[] }>(`/api/traces?limit=30${cls ? `&class=${encodeURIComponent(cls)}` : ''}`, { signal }), 0, [cls]);
  const missing = list.error instanceof ApiError && list.error.status === 404 && /no route/i.test(list.error.message);
  return (
    <div>
      <h2>Latest traces{cls ? ` of ${cls}` : ''}</h2>
      {missing ? (
        <p class="note">This server cannot list traces by request class yet (GET /api/traces, docs/dev/console-api-needs.md §5); look one up by id.</p>
      ) : (
        <ErrorBox error={list.error} title="Could not list traces" onRetry={list.refresh} />
      )}
      {list.loading && <p class="muted">Loading…</p>}
      {list.data && list.data.traces.length === 0 && (
        <Empty title="No trace of this class">
          <p>Send a request of this class through an instrumented entry service; its trace appears here once its spans reach this server.</p>
        </Empty>
      )}
      {list.data && list.data.traces.length > 0 && (
        <table class="data" data-testid="trace-list">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Class</th>
              <th scope="col">Took</th>
              <th scope="col">Spans</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {list.data.traces.map((t) => (
              <tr key={t.traceId}>
                <td>
                  <a href={href('traces', t.traceId)}>{fmtTime(t.startMs)}</a>
                </td>
                <td>
                  {t.service} <code>{t.class}</code>
                </td>
                <td>{fmtMs(t.durationMs)}</td>
                <td>{t.spans}</td>
                <td class={t.status === 'ok' && t.errors === 0 ? 'ok' : 'bad'}>
                  {t.errors > 0 ? `${t.errors} error span${t.errors === 1 ? '' : 's'}` : t.status}
                  {t.faults ? ` · ${t.faults} fault${t.faults === 1 ? '' : 's'}` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

interface Row {
  readonly span: SpanData;
  readonly depth: number;
  readonly orphan: boolean;
}

/** Depth-first order of the spans, children by start time; spans whose parent is missing become roots. */
export function treeRows(spans: readonly SpanData[]): Row[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const children = new Map<string, SpanData[]>();
  const roots: SpanData[] = [];
  for (const s of spans) {
    if (s.parentSpanId && byId.has(s.parentSpanId) && s.parentSpanId !== s.spanId) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else roots.push(s);
  }
  const byStart = (a: SpanData, b: SpanData): number => a.startMs - b.startMs;
  roots.sort(byStart);
  const rows: Row[] = [];
  const seen = new Set<string>();
  const stack: { s: SpanData; depth: number }[] = roots.map((s) => ({ s, depth: 0 })).reverse();
  while (stack.length > 0 && rows.length < 20_000) {
    const { s, depth } = stack.pop()!;
    if (seen.has(s.spanId)) continue;
    seen.add(s.spanId);
    rows.push({ span: s, depth, orphan: depth === 0 && s.parentSpanId !== undefined && roots.length > 1 });
    const kids = (children.get(s.spanId) ?? []).sort(byStart);
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ s: kids[i]!, depth: depth + 1 });
  }
  return rows;
}

function TraceTree({ traceId }: { traceId: string }) {
  const trace = usePoll((signal) => api.get<{ traceId: string; spans: SpanData[] }>(`/api/traces/${encodeURIComponent(traceId)}`, { signal }), 0, [traceId]);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const rows = useMemo(() => treeRows(trace.data?.spans ?? []), [trace.data]);
  const t0 = rows.length ? Math.min(...rows.map((r) => r.span.startMs)) : 0;
  const t1 = rows.length ? Math.max(...rows.map((r) => r.span.endMs)) : 1;
  const total = Math.max(0.001, t1 - t0);
  const services = new Set(rows.map((r) => r.span.service));
  return (
    <div class="trace" data-testid="trace-tree">
      <h2>
        Trace <code>{traceId}</code>
      </h2>
      <ErrorBox error={trace.error} title="Could not load the trace" onRetry={trace.refresh} />
      {trace.loading && <p class="muted">Loading…</p>}
      {trace.data && rows.length === 0 && (
        <Empty title="No span of this trace is stored">
          <p>
            Either the id is wrong, its spans have not arrived yet (services batch them for a moment), or retention removed them.{' '}
            <button type="button" class="link" onClick={trace.refresh}>
              Look again
            </button>
          </p>
        </Empty>
      )}
      {rows.length > 0 && (
        <>
          <p class="muted">
            {rows.length} spans · {services.size} services · {fmtMs(total)} · started {fmtTime(t0)}
          </p>
          <div class="tree" role="tree" aria-label={`spans of trace ${traceId}`}>
            <div class="tree-head" aria-hidden="true">
              <span>Span</span>
              <span>Timeline (0 – {fmtMs(total)})</span>
            </div>
            {rows.map(({ span: s, depth, orphan }) => {
              const fault = s.attributes['labcoat.fault'];
              const err = s.status.code === 'error';
              const left = ((s.startMs - t0) / total) * 100;
              const width = Math.max(0.3, ((s.endMs - s.startMs) / total) * 100);
              const isOpen = open === s.spanId;
              return (
                <div key={s.spanId} role="treeitem" aria-level={depth + 1} aria-expanded={isOpen} class={`tree-row${err ? ' err' : ''}${fault !== undefined ? ' fault' : ''}`}>
                  <button type="button" class="tree-label" style={{ paddingLeft: `${8 + depth * 16}px` }} onClick={() => setOpen(isOpen ? undefined : s.spanId)}>
                    <span class={`kind ${s.kind}`}>{s.kind}</span> <strong>{s.service}</strong> {s.name}
                    {fault !== undefined && <Badge kind="fault">fault {String(fault)}</Badge>}
                    {err && !fault && <Badge kind="bad">error</Badge>}
                    {orphan && <Badge kind="warn">parent missing</Badge>}
                  </button>
                  <div class="bar-track" aria-hidden="true">
                    <div class="bar" style={{ left: `${left}%`, width: `${Math.min(width, 100 - left)}%` }} />
                  </div>
                  <span class="dur">{fmtMs(s.endMs - s.startMs)}</span>
                  {isOpen && (
                    <dl class="attrs">
                      <dt>span</dt>
                      <dd class="mono">{s.spanId}</dd>
                      <dt>start</dt>
                      <dd>+{fmtMs(s.startMs - t0)}</dd>
                      {s.status.message && (
                        <>
                          <dt>status</dt>
                          <dd>{s.status.message}</dd>
                        </>
                      )}
                      {Object.entries(s.attributes).map(([k, v]) => (
                        <Fragment key={`a:${k}`}>
                          <dt>{k}</dt>
                          <dd class="mono">{Array.isArray(v) ? v.join(', ') : String(v)}</dd>
                        </Fragment>
                      ))}
                      {s.events?.map((ev, i) => (
                        <Fragment key={`e:${i}`}>
                          <dt>event</dt>
                          <dd>
                            +{fmtMs(ev.timeMs - t0)} {ev.name}
                          </dd>
                        </Fragment>
                      ))}
                    </dl>
                  )}
                </div>
              );
            })}
          </div>
        </>
      )}
    </div>
  );
}
