/**
 * Campaigns: launch an explore run on the server (admins), list the runs, and follow one: live
 * progress over SSE while it runs, then per request class the certificate or the minimal failure
 * sets, the call graph with a failure set's or an experiment's faulted points highlighted, the
 * experiment log, and the HTML/JSON reports.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ElementDefinition, StylesheetJson } from 'cytoscape';
import { ApiError, api, fetchText, readSse } from '../api.js';
import type { Session } from '../auth.js';
import { CyGraph } from '../components/CyGraph.js';
import { Badge, ConfirmDialog, Empty, ErrorBox, Field } from '../components/ui.js';
import { fmtAgo, fmtCount, fmtMs, fmtTime, splitList } from '../format.js';
import { useNow, usePoll } from '../hooks.js';
import { layeredLayout } from '../layout.js';
import { href, navigate, type Route } from '../router.js';
import { TERMINAL_STATES, type CampaignEvent, type CampaignRecord, type ClassReport, type ExperimentRecord, type FaultRef, type Graph, type ProgressState } from '../types.js';

export function CampaignsView({ session, route }: { session: Session; route: Route }) {
  if (route.id) return <CampaignDetail id={route.id} session={session} />;
  return <CampaignList session={session} />;
}

const STATE_KIND: Record<string, string> = { running: 'running', finished: 'ok', failed: 'bad', stopped: 'warn', interrupted: 'warn' };

function CampaignList({ session }: { session: Session }) {
  const list = usePoll((signal) => api.get<{ campaigns: CampaignRecord[] }>('/api/campaigns?limit=50', { signal }), 3000, []);
  const now = useNow(5000);
  const campaigns = list.data?.campaigns ?? [];
  return (
    <section class="view campaigns-view" aria-labelledby="campaigns-title">
      <header class="view-head">
        <h1 id="campaigns-title">Campaigns</h1>
        <p class="muted">
          A campaign is an explore run: labcoat learns from successful requests which calls supported them, injects the smallest fault sets that could break them, and ends with
          the minimal failure sets — or a certificate that no combination of ≤ k faults breaks the request.
        </p>
      </header>
      {session.role === 'admin' ? <LaunchForm /> : <p class="note">You are signed in as a viewer: launching a campaign needs an admin token.</p>}
      <h2>Runs</h2>
      <ErrorBox error={list.error} title="Could not load campaigns" onRetry={list.refresh} />
      {list.loading && !list.data && <p class="muted">Loading…</p>}
      {list.data && campaigns.length === 0 && (
        <Empty title="No campaign yet">
          <p>
            {session.role === 'admin' ? 'Launch one above' : 'An admin can launch one'}: give the URL of a request your users make (for the demo system,{' '}
            <code>http://127.0.0.1:&lt;edge port&gt;/home</code> with the header <code>authorization: Bearer demo-token-7</code>), the most faults to combine, the fault kinds,
            and the services that are allowed to fail the request. The services must send their spans to this server (<code>LABCOAT_OTLP_URL={location.origin}/v1/traces</code>) and
            share its key (<code>LABCOAT_KEY</code>).
          </p>
        </Empty>
      )}
      {campaigns.length > 0 && (
        <table class="data" data-testid="campaign-list">
          <thead>
            <tr>
              <th scope="col">Campaign</th>
              <th scope="col">State</th>
              <th scope="col">Started</th>
              <th scope="col">Experiments</th>
              <th scope="col">Failure sets</th>
              <th scope="col">Certified</th>
            </tr>
          </thead>
          <tbody>
            {campaigns.map((c) => {
              const progress = c.progress;
              return (
                <tr key={c.id}>
                  <td>
                    <a href={href('campaigns', c.id)}>{c.name ?? c.id}</a>
                    {c.name && <div class="muted mono">{c.id}</div>}
                  </td>
                  <td>
                    <Badge kind={STATE_KIND[c.state] ?? ''}>{c.state}</Badge>
                  </td>
                  <td title={fmtTime(c.startedAt ?? c.createdAt)}>{fmtAgo(c.startedAt ?? c.createdAt, now)}</td>
                  <td>{c.summary ? fmtCount(c.summary.experiments) : progress ? `${fmtCount(progress.experiments)}…` : '–'}</td>
                  <td class={c.summary && c.summary.bugs > 0 ? 'bad' : ''}>{c.summary ? c.summary.bugs : progress ? `${progress.failures}…` : '–'}</td>
                  <td>{c.summary ? (c.summary.certified ? 'yes' : 'no') : '–'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

const FAULT_CHOICES = ['error', '503', '500', 'hang', 'delay:200', 'reset', 'corrupt', 'truncate'] as const;

interface LaunchFormState {
  name: string;
  method: string;
  url: string;
  headers: string;
  status: string;
  deadlineMs: string;
  maxFaults: string;
  faults: string[];
  otherFaults: string;
  critical: string;
  budget: string;
  classesJson: string;
}

type LaunchErrors = Partial<Record<keyof LaunchFormState | 'general', string>>;

function buildCampaign(f: LaunchFormState): { errors: LaunchErrors; body?: Record<string, unknown> } {
  const errors: LaunchErrors = {};
  const body: Record<string, unknown> = {};
  if (f.name.trim()) {
    if (f.name.trim().length > 128) errors.name = 'at most 128 characters';
    else body['name'] = f.name.trim();
  }
  let url: URL | undefined;
  try {
    url = new URL(f.url.trim());
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
  } catch {
    errors.url = 'an http(s) URL, e.g. http://127.0.0.1:3000/home';
  }
  const headers: Record<string, string> = {};
  for (const line of f.headers.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const c = line.indexOf(':');
    if (c <= 0) errors.headers = `write each header as "name: value" ("${line}")`;
    else headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  const statuses = splitList(f.status);
  const status: (number | string)[] = [];
  for (const s of statuses) {
    if (/^\d{3}$/.test(s) && Number(s) >= 100 && Number(s) <= 599) status.push(Number(s));
    else if (/^[1-5]xx$/i.test(s)) status.push(s.toLowerCase());
    else errors.status = `"${s}": a status (200) or a class (2xx)`;
  }
  let deadlineMs: number | undefined;
  if (f.deadlineMs.trim()) {
    const d = Number(f.deadlineMs.trim());
    if (!Number.isInteger(d) || d < 1 || d > 600_000) errors.deadlineMs = 'milliseconds from 1 to 600000';
    else deadlineMs = d;
  }
  const k = Number(f.maxFaults.trim());
  if (!Number.isInteger(k) || k < 1 || k > 8) errors.maxFaults = 'an integer from 1 to 8';
  else body['maxFaults'] = k;
  const faults = [...f.faults, ...splitList(f.otherFaults)];
  if (faults.length === 0) errors.faults = 'pick at least one fault kind';
  else body['faults'] = faults;
  const critical = splitList(f.critical);
  if (critical.length > 0) body['critical'] = { services: critical };
  if (f.budget.trim()) {
    const b = Number(f.budget.trim());
    if (!Number.isInteger(b) || b < 1 || b > 100_000) errors.budget = 'an integer from 1 to 100000';
    else body['budget'] = b;
  }
  const expect = { ...(status.length > 0 ? { status } : {}), ...(deadlineMs !== undefined ? { deadlineMs } : {}) };
  if (f.classesJson.trim()) {
    // Several classes: a classes.json document ({classes:[…], critical}) or an array; the URL is their base.
    let parsed: unknown;
    try {
      parsed = JSON.parse(f.classesJson);
    } catch (e) {
      errors.classesJson = `not JSON: ${(e as Error).message}`;
    }
    const doc = Array.isArray(parsed) ? { classes: parsed } : (parsed as { classes?: unknown; critical?: { services?: string[]; points?: string[] } } | undefined);
    if (parsed !== undefined && (!doc || !Array.isArray(doc.classes) || doc.classes.length === 0)) errors.classesJson = 'expected {"classes":[{"name","method","path","expect"},…]} or an array of classes';
    else if (doc && Array.isArray(doc.classes)) {
      body['classes'] = doc.classes;
      if (url) body['target'] = url.origin + url.pathname.replace(/\/+$/, '');
      if (doc.critical && critical.length === 0) {
        const { services, points } = doc.critical;
        body['critical'] = { ...(services ? { services } : {}), ...(points ? { points } : {}) };
      }
    }
  } else if (url) {
    body['target'] = url.href;
    if (f.method !== 'GET') body['method'] = f.method;
    if (Object.keys(headers).length > 0) body['headers'] = headers;
    if (Object.keys(expect).length > 0) body['expect'] = expect;
  }
  if (Object.keys(errors).length > 0) return { errors };
  return { errors, body };
}

function errorsFromServer(fields: readonly { field: string; message: string }[]): LaunchErrors {
  const out: LaunchErrors = {};
  const put = (k: keyof LaunchErrors, m: string): void => {
    out[k] = out[k] ? `${out[k]}; ${m}` : m;
  };
  for (const { field, message } of fields) {
    if (field === 'target') put('url', message);
    else if (field === 'method') put('method', message);
    else if (field === 'headers') put('headers', message);
    else if (field.startsWith('expect')) put('status', message);
    else if (field === 'maxFaults') put('maxFaults', message);
    else if (field === 'faults') put('faults', message);
    else if (field === 'critical') put('critical', message);
    else if (field === 'budget') put('budget', message);
    else if (field.startsWith('classes')) put('classesJson', `${field}: ${message}`);
    else if (field === 'name') put('name', message);
    else put('general', `${field || 'campaign'}: ${message}`);
  }
  return out;
}

function LaunchForm() {
  const [f, setF] = useState<LaunchFormState>({
    name: '',
    method: 'GET',
    url: '',
    headers: '',
    status: '200',
    deadlineMs: '',
    maxFaults: '2',
    faults: ['error', '503', 'hang'],
    otherFaults: '',
    critical: '',
    budget: '',
    classesJson: '',
  });
  const [errors, setErrors] = useState<LaunchErrors>({});
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>(undefined);
  const services = usePoll(async (signal) => (await api.get<Graph>('/api/graph?window=1h', { signal })).services.map((s) => s.name).sort(), 0, []);
  const set = (k: keyof LaunchFormState) => (e: JSX.TargetedEvent<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, Event>) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const toggle = (mode: string) => setF({ ...f, faults: f.faults.includes(mode) ? f.faults.filter((m) => m !== mode) : [...f.faults, mode] });
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setFailure(undefined);
    const v = buildCampaign(f);
    setErrors(v.errors);
    if (!v.body) return;
    setBusy(true);
    try {
      const rec = await api.post<CampaignRecord>('/api/campaigns', v.body);
      navigate(href('campaigns', rec.id));
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.fields.length > 0) {
        setErrors(errorsFromServer(err.fields));
        setFailure(new ApiError(422, `the server refused the campaign: ${err.message}`, [], err.call));
      } else setFailure(err);
    } finally {
      setBusy(false);
    }
  };
  const inv = (k: keyof LaunchErrors) => (errors[k] ? 'true' : undefined);
  return (
    <form class="card launch-form" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="launch-title">
      <h2 id="launch-title">Launch a campaign</h2>
      {errors.general && (
        <p class="field-error" role="alert">
          {errors.general}
        </p>
      )}
      <fieldset>
        <legend>Request class</legend>
        <div class="grid">
          <Field label="Method" id="cmp-method" error={errors.method}>
            <select id="cmp-method" value={f.method} onChange={set('method')}>
              {['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </Field>
          <Field label="URL" id="cmp-url" error={errors.url} hint="the request to explore (with classes JSON: their base URL)">
            <input id="cmp-url" type="url" value={f.url} onInput={set('url')} placeholder="http://127.0.0.1:3000/home" aria-invalid={inv('url')} required />
          </Field>
          <Field label="Headers" id="cmp-headers" error={errors.headers} hint="name: value, one per line">
            <textarea id="cmp-headers" rows={2} value={f.headers} onInput={set('headers')} placeholder="authorization: Bearer demo-token-7" aria-invalid={inv('headers')} />
          </Field>
          <Field label="Expected status" id="cmp-status" error={errors.status} hint="e.g. 200 or 2xx">
            <input id="cmp-status" value={f.status} onInput={set('status')} aria-invalid={inv('status')} />
          </Field>
          <Field label="Deadline (ms, optional)" id="cmp-deadlineMs" error={errors.deadlineMs} hint="slower answers fail">
            <input id="cmp-deadlineMs" inputMode="numeric" value={f.deadlineMs} onInput={set('deadlineMs')} aria-invalid={inv('deadlineMs')} />
          </Field>
        </div>
        <details class="classes-json" open={f.classesJson !== ''}>
          <summary>Several request classes (classes.json)</summary>
          <Field label="Classes JSON" id="cmp-classesJson" error={errors.classesJson} hint='the shape of examples/streaming/classes.json: {"classes":[{"name","method","path","headers","expect"}],"critical":{…}}'>
            <textarea id="cmp-classesJson" rows={5} class="mono" value={f.classesJson} onInput={set('classesJson')} aria-invalid={inv('classesJson')} />
          </Field>
        </details>
      </fieldset>
      <fieldset>
        <legend>Search</legend>
        <div class="grid">
          <Field label="Max faults (k)" id="cmp-maxFaults" error={errors.maxFaults} hint="largest fault set to try, 1–8">
            <input id="cmp-maxFaults" type="number" min={1} max={8} value={f.maxFaults} onInput={set('maxFaults')} aria-invalid={inv('maxFaults')} />
          </Field>
          <Field label="Critical services" id="cmp-critical" error={errors.critical} hint="may fail the request: their failure sets are expected, not bugs">
            <input id="cmp-critical" value={f.critical} onInput={set('critical')} placeholder="auth, licensing" list="cmp-service-list" aria-invalid={inv('critical')} />
          </Field>
          <Field label="Budget (experiments, optional)" id="cmp-budget" error={errors.budget}>
            <input id="cmp-budget" inputMode="numeric" value={f.budget} onInput={set('budget')} aria-invalid={inv('budget')} />
          </Field>
          <Field label="Name (optional)" id="cmp-name" error={errors.name}>
            <input id="cmp-name" value={f.name} onInput={set('name')} aria-invalid={inv('name')} />
          </Field>
        </div>
        <datalist id="cmp-service-list">
          {services.data?.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
        <div class={`field${errors.faults ? ' invalid' : ''}`} role="group" aria-labelledby="cmp-faults-label">
          <span id="cmp-faults-label" class="label">
            Fault kinds
          </span>
          <div class="checks">
            {FAULT_CHOICES.map((m) => (
              <label key={m} class="check">
                <input type="checkbox" checked={f.faults.includes(m)} onChange={() => toggle(m)} /> {m}
              </label>
            ))}
            <label class="check">
              other <input class="short" value={f.otherFaults} onInput={set('otherFaults')} placeholder="delay:1000, 429" aria-label="other fault kinds" />
            </label>
          </div>
          {errors.faults && (
            <small class="field-error" role="alert">
              {errors.faults}
            </small>
          )}
        </div>
      </fieldset>
      <ErrorBox error={failure} title="Not launched" />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Launching…' : 'Launch campaign'}
        </button>
      </div>
    </form>
  );
}

interface Live {
  progress?: ProgressState;
  classesDone: string[];
  log: { at: number; line: string }[];
  state?: string;
  error?: string;
}

function CampaignDetail({ id, session }: { id: string; session: Session }) {
  const [campaign, setCampaign] = useState<CampaignRecord | undefined>(undefined);
  const [loadError, setLoadError] = useState<unknown>(undefined);
  const [streamError, setStreamError] = useState<unknown>(undefined);
  const [live, setLive] = useState<Live>({ classesDone: [], log: [] });
  const [stopAsk, setStopAsk] = useState(false);
  const [stopError, setStopError] = useState<unknown>(undefined);
  const [reload, setReload] = useState(0);

  const load = async (signal?: AbortSignal): Promise<CampaignRecord | undefined> => {
    try {
      const c = await api.get<CampaignRecord>(`/api/campaigns/${encodeURIComponent(id)}`, signal ? { signal } : {});
      setCampaign(c);
      setLoadError(undefined);
      return c;
    } catch (e) {
      if (!signal?.aborted) setLoadError(e);
      return undefined;
    }
  };

  useEffect(() => {
    const controller = new AbortController();
    let lastId: string | undefined;
    setLive({ classesDone: [], log: [] });
    setCampaign(undefined);
    void (async () => {
      const first = await load(controller.signal);
      if (!first || (TERMINAL_STATES as readonly string[]).includes(first.state)) return;
      // Follow the events; reconnect (bounded) from the last one seen when the stream drops.
      for (let attempt = 0; attempt < 30 && !controller.signal.aborted; attempt++) {
        let ended = false;
        try {
          await readSse(
            `/api/campaigns/${encodeURIComponent(id)}/events`,
            (m) => {
              if (m.id) lastId = m.id;
              if (m.event === 'end') {
                ended = true;
                return;
              }
              let e: CampaignEvent;
              try {
                e = JSON.parse(m.data) as CampaignEvent;
              } catch {
                return;
              }
              attempt = 0;
              setLive((prev) => applyEvent(prev, e));
            },
            controller.signal,
            lastId,
          );
          setStreamError(undefined);
        } catch (err) {
          setStreamError(err);
          if (err instanceof ApiError && err.status >= 400 && err.status < 500) break;
        }
        if (controller.signal.aborted) return;
        const now = await load(controller.signal);
        if (ended || !now || (TERMINAL_STATES as readonly string[]).includes(now.state)) return;
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    })();
    return () => controller.abort();
  }, [id, reload]);

  const stop = async (): Promise<void> => {
    setStopError(undefined);
    try {
      await api.post(`/api/campaigns/${encodeURIComponent(id)}/stop`);
      setStopAsk(false);
      void load();
    } catch (e) {
      setStopError(e);
    }
  };

  const c = campaign;
  const state = c && (TERMINAL_STATES as readonly string[]).includes(c.state) ? c.state : (live.state ?? c?.state);
  const running = state === 'running';
  const progress = live.progress ?? (c?.progress as ProgressState | null) ?? undefined;
  return (
    <section class="view campaign-view" aria-labelledby="campaign-title">
      <p>
        <a href={href('campaigns')}>← Campaigns</a>
      </p>
      <header class="view-head">
        <h1 id="campaign-title">
          {c?.name ?? id} {state && <Badge kind={STATE_KIND[state] ?? ''}>{state}</Badge>}
        </h1>
        {c && (
          <p class="muted">
            {c.name && <span class="mono">{c.id} · </span>}started {fmtTime(c.startedAt ?? c.createdAt)}
            {c.finishedAt && <> · took {fmtMs(c.finishedAt - (c.startedAt ?? c.createdAt))}</>}
            {' · '}
            <SpecLine spec={c.spec} />
          </p>
        )}
      </header>
      <ErrorBox error={loadError} title="Could not load the campaign" onRetry={() => setReload((n) => n + 1)} />
      {!c && !loadError && <p class="muted">Loading…</p>}
      {c && running && (
        <div class="card progress-card" data-testid="campaign-progress">
          <h2>Exploring{progress ? ` ${progress.className}` : '…'}</h2>
          {progress ? (
            <>
              <progress max={Math.max(progress.budget, progress.experiments, 1)} value={progress.experiments} aria-label="experiments run" />
              <p aria-live="polite">
                {fmtCount(progress.experiments)} experiment{progress.experiments === 1 ? '' : 's'}
                {progress.points !== undefined && <> · {progress.points} injection points</>}
                {progress.hypothesesLeft !== undefined && <> · {progress.hypothesesLeft} hypotheses left</>} ·{' '}
                <strong class={progress.failures > 0 ? 'bad' : ''}>
                  {progress.failures} failure set{progress.failures === 1 ? '' : 's'}
                </strong>
                {progress.critical > 0 && <> (+{progress.critical} critical)</>}
                {progress.purpose && <span class="muted"> · {progress.purpose}</span>}
              </p>
            </>
          ) : (
            <p class="muted">Running the baseline (requests without faults)…</p>
          )}
          {live.classesDone.length > 0 && <p class="muted">Done: {live.classesDone.join(', ')}</p>}
          <ErrorBox error={streamError} title="Live progress interrupted (retrying)" />
          {session.role === 'admin' && (
            <button type="button" class="danger" onClick={() => setStopAsk(true)} disabled={c.stopRequested === true}>
              {c.stopRequested ? 'Stopping…' : 'Stop campaign'}
            </button>
          )}
          <ConfirmDialog open={stopAsk} title="Stop this campaign?" confirmLabel="Stop" danger onConfirm={() => void stop()} onCancel={() => setStopAsk(false)}>
            <p>It ends as “stopped”, with the report of what it explored so far.</p>
            <ErrorBox error={stopError} />
          </ConfirmDialog>
        </div>
      )}
      {live.log.length > 0 && (
        <details class="log">
          <summary>Log ({live.log.length})</summary>
          <pre>{live.log.map((l) => `${new Date(l.at).toLocaleTimeString('en-GB')} ${l.line}`).join('\n')}</pre>
        </details>
      )}
      {c && c.state === 'failed' && (
        <div class="error" role="alert">
          <strong>The campaign failed:</strong> {c.error ?? live.error ?? 'no reason recorded'}
        </div>
      )}
      {c && c.state === 'interrupted' && <p class="note">{c.error ?? 'The server stopped before the campaign finished.'}</p>}
      {c?.result && <Results campaign={c} />}
      {c && !running && !c.result && c.state !== 'failed' && <p class="muted">No report was stored for this campaign.</p>}
    </section>
  );
}

function applyEvent(prev: Live, e: CampaignEvent): Live {
  const d = (e.data ?? {}) as Record<string, unknown>;
  switch (e.type) {
    case 'progress':
      return { ...prev, progress: e.data as ProgressState };
    case 'class-start':
      return { ...prev, log: [...prev.log, { at: e.at, line: `exploring ${String(d['className'])} (budget ${String(d['budget'])})` }].slice(-300) };
    case 'class-end':
      return { ...prev, classesDone: [...prev.classesDone, String(d['className'])] };
    case 'log':
      return { ...prev, log: [...prev.log, { at: e.at, line: String(d['line']) }].slice(-300) };
    case 'state':
      return { ...prev, state: String(d['state']), ...(typeof d['error'] === 'string' ? { error: d['error'] } : {}) };
    default:
      return prev;
  }
}

function SpecLine({ spec }: { spec: unknown }) {
  const s = (spec ?? {}) as { target?: string; method?: string; classes?: { name?: string }[]; maxFaults?: number; faults?: unknown; critical?: { services?: string[] } };
  const what = s.classes ? `${s.classes.length} class${s.classes.length === 1 ? '' : 'es'} (${s.classes.map((c) => c.name).join(', ')})` : `${s.method ?? 'GET'} ${s.target ?? '?'}`;
  const faults = Array.isArray(s.faults) ? s.faults.join(',') : typeof s.faults === 'string' ? s.faults : 'error,503,hang';
  return (
    <span>
      {what} · k ≤ {s.maxFaults ?? 2} · faults {faults}
      {s.critical?.services?.length ? ` · critical ${s.critical.services.join(', ')}` : ''}
    </span>
  );
}

function Results({ campaign }: { campaign: CampaignRecord }) {
  const report = campaign.result!;
  const [reportError, setReportError] = useState<unknown>(undefined);
  const [opening, setOpening] = useState(false);
  const openHtml = async (download: boolean): Promise<void> => {
    setReportError(undefined);
    setOpening(true);
    try {
      const { text } = await fetchText(`/api/campaigns/${encodeURIComponent(campaign.id)}/report.html`);
      saveOrOpen(new Blob([text], { type: 'text/html' }), `labcoat-${campaign.id}.html`, download);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && /no route/i.test(e.message)) {
        setReportError(new ApiError(404, 'this server does not serve HTML reports yet (GET /api/campaigns/{id}/report.html, docs/dev/console-api-needs.md §7); the JSON report has everything', [], e.call));
      } else setReportError(e);
    } finally {
      setOpening(false);
    }
  };
  const bugs = report.bugs;
  return (
    <div class="results" data-testid="campaign-results">
      <div class={`verdict ${bugs > 0 ? 'bad' : report.certified ? 'ok' : 'warn'}`} role="status">
        {bugs > 0 ? (
          <strong>
            {bugs} minimal failure set{bugs === 1 ? '' : 's'} found
          </strong>
        ) : report.certified ? (
          <strong>Certified: no failure set of ≤ {report.maxFaults} faults</strong>
        ) : (
          <strong>No failure set found, but the exploration did not complete</strong>
        )}{' '}
        · {fmtCount(report.experiments)} experiments in {fmtMs(report.durationMs)}
      </div>
      <p class="report-links">
        <button type="button" onClick={() => void openHtml(false)} disabled={opening}>
          Open HTML report
        </button>{' '}
        <button type="button" onClick={() => void openHtml(true)} disabled={opening}>
          Download HTML report
        </button>{' '}
        <button type="button" onClick={() => saveOrOpen(new Blob([JSON.stringify(report, null, 2)], { type: 'application/json' }), `labcoat-${campaign.id}.json`, true)}>
          Download JSON report
        </button>
      </p>
      <ErrorBox error={reportError} title="HTML report" />
      {report.classes.map((cls) => (
        <ClassResult key={cls.name} cls={cls} />
      ))}
    </div>
  );
}

function saveOrOpen(blob: Blob, filename: string, download: boolean): void {
  const url = URL.createObjectURL(blob);
  if (download) {
    const a = document.createElement('a');
    a.href = url;
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
  } else window.open(url, '_blank', 'noopener');
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function certificateText(cls: ClassReport): string {
  const k = cls.certified.maxFaults;
  const realSets = cls.failureSets.filter((f) => !f.critical).length;
  if (realSets > 0) return `${realSets} minimal failure set${realSets === 1 ? '' : 's'} break ${cls.request}`;
  if (cls.certified.complete) return `Certificate: no combination of ≤ ${k} fault${k === 1 ? '' : 's'} among these ${cls.points.length} injection points breaks ${cls.request} (${cls.experiments} experiments).`;
  return `No failure set found among ${cls.points.length} points, but the search is incomplete (${cls.stopped}): no certificate.`;
}

const faultText = (f: FaultRef): string => `${f.mode} @ ${f.point}`;

function ClassResult({ cls }: { cls: ClassReport }) {
  const [selected, setSelected] = useState<{ kind: 'set' | 'exp'; index: number } | undefined>(cls.failureSets.length > 0 ? { kind: 'set', index: 0 } : undefined);
  const [showAll, setShowAll] = useState(false);
  const realSets = cls.failureSets.filter((f) => !f.critical).length;
  const { hl, hl2, caption } = useMemo(() => {
    if (!selected) return { hl: new Set<string>(), hl2: new Set<string>(), caption: '' };
    if (selected.kind === 'set') {
      const fs = cls.failureSets[selected.index];
      return { hl: new Set(fs?.faults.map((f) => f.point) ?? []), hl2: new Set<string>(), caption: `failure set ${selected.index + 1}: ${fs?.faults.map(faultText).join(' + ') ?? ''}` };
    }
    const ex = cls.log.find((x) => x.id === selected.index);
    const fired = new Set(ex?.fired.map((f) => f.point) ?? []);
    return {
      hl: fired,
      hl2: new Set((ex?.faults ?? []).map((f) => f.point).filter((p) => !fired.has(p))),
      caption: ex ? `experiment #${ex.id} (${ex.purpose}): ${ex.faults.length === 0 ? 'no faults' : ex.faults.map(faultText).join(' + ')} → ${ex.ok ? 'correct answer' : (ex.symptom ?? 'failed')}` : '',
    };
  }, [selected, cls]);
  const log = showAll ? cls.log : cls.log.slice(0, 100);
  return (
    <section class="class-result card" aria-labelledby={`cls-${cls.name}`}>
      <h2 id={`cls-${cls.name}`}>
        {cls.name} <span class="muted mono">{cls.request}</span>
      </h2>
      <p class={`certificate ${realSets > 0 ? 'bad' : cls.certified.complete ? 'ok' : 'warn'}`} data-testid="certificate">
        {certificateText(cls)}
      </p>
      <h3>Minimal failure sets</h3>
      {cls.failureSets.length === 0 ? (
        <p class="muted">None: every combination tried left the request answered correctly.</p>
      ) : (
        <table class="data failure-sets" data-testid="failure-sets">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Faults</th>
              <th scope="col">Symptom</th>
              <th scope="col">Experiment</th>
              <th scope="col"><span class="sr-only">Show</span></th>
            </tr>
          </thead>
          <tbody>
            {cls.failureSets.map((fs, i) => (
              <tr key={i} class={selected?.kind === 'set' && selected.index === i ? 'on' : ''}>
                <td>{i + 1}</td>
                <td>
                  <ul class="plain">
                    {fs.faults.map((f) => (
                      <li key={f.point + f.mode}>
                        <Badge kind="fault">{f.mode}</Badge> <code>{f.point}</code>
                      </li>
                    ))}
                  </ul>
                  {fs.critical && <Badge kind="warn">critical (expected)</Badge>} {fs.flaky && <Badge kind="warn">flaky</Badge>}
                </td>
                <td>{fs.symptom}</td>
                <td>#{fs.experiment}</td>
                <td>
                  <button type="button" class="small" onClick={() => setSelected({ kind: 'set', index: i })} aria-pressed={selected?.kind === 'set' && selected.index === i}>
                    Show on graph
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Call graph</h3>
      <p class="muted graph-caption" aria-live="polite">
        {caption ? (
          <>
            Highlighted: {caption}. <span class="sw" style={{ background: '#d1242f' }} /> fired <span class="sw" style={{ background: '#e8a33d' }} /> planned, did not fire
          </>
        ) : (
          'Pick a failure set or an experiment to see its faulted points.'
        )}
      </p>
      <CallGraphView cls={cls} hl={hl} hl2={hl2} />
      {(cls.notes.length > 0 || cls.neverFired.length > 0 || cls.orderDependent.length > 0 || cls.incompleteTraces > 0) && (
        <>
          <h3>Notes</h3>
          <ul>
            {cls.notes.map((n) => (
              <li key={n}>{n}</li>
            ))}
            {cls.neverFired.length > 0 && <li>Planned but never fired: {cls.neverFired.join(', ')}</li>}
            {cls.orderDependent.map((o) => (
              <li key={o.experiment}>
                Order-dependent (went away after a reset): {o.faults.map(faultText).join(' + ')} — {o.symptom}
              </li>
            ))}
            {cls.incompleteTraces > 0 && <li>{cls.incompleteTraces} execution(s) whose traces never completed</li>}
          </ul>
        </>
      )}
      <details class="experiments">
        <summary>
          Experiments ({cls.log.length}) — {Object.entries(cls.byPurpose).map(([p, n]) => `${n} ${p}`).join(', ')}
        </summary>
        <table class="data compact" data-testid="experiments">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Purpose</th>
              <th scope="col">Faults (fired / planned)</th>
              <th scope="col">Result</th>
              <th scope="col">Took</th>
              <th scope="col"><span class="sr-only">Show</span></th>
            </tr>
          </thead>
          <tbody>
            {log.map((ex: ExperimentRecord) => (
              <tr key={ex.id} class={selected?.kind === 'exp' && selected.index === ex.id ? 'on' : ''}>
                <td>{ex.id}</td>
                <td>{ex.purpose}</td>
                <td>
                  {ex.faults.length === 0
                    ? '—'
                    : ex.faults.map((f) => (
                        <div key={f.point + f.mode} class={ex.fired.some((x) => x.point === f.point) ? '' : 'muted'}>
                          {faultText(f)}
                          {ex.fired.some((x) => x.point === f.point) ? '' : ' (did not fire)'}
                        </div>
                      ))}
                </td>
                <td class={ex.ok ? 'ok' : 'bad'}>{ex.ok ? 'ok' : (ex.symptom ?? 'failed')}</td>
                <td>{fmtMs(ex.durationMs)}</td>
                <td>
                  <button type="button" class="small" onClick={() => setSelected({ kind: 'exp', index: ex.id })}>
                    Show
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {!showAll && cls.log.length > 100 && (
          <button type="button" class="link" onClick={() => setShowAll(true)}>
            Show all {cls.log.length}
          </button>
        )}
      </details>
    </section>
  );
}

const CALL_STYLE: StylesheetJson = [
  {
    selector: 'node',
    style: {
      shape: 'round-rectangle',
      width: 'data(w)',
      height: 30,
      'background-color': '#eef3fb',
      'border-color': '#4a6fa5',
      'border-width': 1.2,
      label: 'data(id)',
      'font-size': 12,
      'text-valign': 'center',
      'text-halign': 'center',
    },
  },
  {
    selector: 'edge',
    style: {
      width: 1.4,
      'line-color': '#8b949e',
      'target-arrow-shape': 'triangle',
      'target-arrow-color': '#8b949e',
      'curve-style': 'bezier',
      label: 'data(label)',
      'font-size': 9,
      color: '#57606a',
      'text-rotation': 'autorotate',
      'text-background-color': '#fff',
      'text-background-opacity': 0.85,
    },
  },
  { selector: 'edge.hl', style: { 'line-color': '#d1242f', 'target-arrow-color': '#d1242f', width: 4, color: '#d1242f', 'font-weight': 'bold', 'z-index': 10 } },
  { selector: 'edge.hl2', style: { 'line-color': '#e8a33d', 'target-arrow-color': '#e8a33d', width: 3, 'line-style': 'dashed', 'z-index': 9 } },
  { selector: 'edge.dim', style: { opacity: 0.35 } },
];

function CallGraphView({ cls, hl, hl2 }: { cls: ClassReport; hl: ReadonlySet<string>; hl2: ReadonlySet<string> }) {
  const { elements, key } = useMemo(() => {
    const services = [...new Set([...cls.graph.services, ...cls.graph.edges.flatMap((e) => [e.from, e.to])])];
    const pos = layeredLayout(services, cls.graph.edges.map((e) => [e.from, e.to] as const), { layerGap: 250, rowGap: 46, maxPerColumn: 8 });
    const els: ElementDefinition[] = services.map((s) => ({ group: 'nodes', data: { id: s, w: Math.max(60, s.length * 7.2 + 22) }, position: { ...(pos.get(s) ?? { x: 0, y: 0 }) } }));
    for (const e of cls.graph.edges) {
      const prefix = `${e.from}->${e.to} `;
      els.push({ group: 'edges', data: { id: e.point, source: e.from, target: e.to, label: e.point.startsWith(prefix) ? e.point.slice(prefix.length) : e.point } });
    }
    return { elements: els, key: `${services.join(',')}|${cls.graph.edges.map((e) => e.point).join(',')}` };
  }, [cls]);
  const ref = useRef<HTMLDivElement>(null);
  if (cls.graph.services.length === 0) return <p class="muted">No spans were seen for this class, so there is no call graph.</p>;
  return (
    <div ref={ref}>
      <CyGraph elements={elements} structureKey={key} style={CALL_STYLE} label={`call graph of ${cls.name}`} class="call-graph" highlight={hl} highlight2={hl2} />
    </div>
  );
}

