/**
 * The attack console: a validated form to create an attack (admins), the active attacks with their
 * live injection counts (polled every second), Halt per attack, and the recent history. Halt all is
 * in the header, on every page.
 */
import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, api, messageOf } from '../api.js';
import { EMPTY_FORM, ERROR_CODES, FAULT_KINDS, describeFault, describeTarget, formErrorsFromServer, validateAttackForm, type AttackForm, type FaultKindName, type FormErrors } from '../attack-form.js';
import type { Session } from '../auth.js';
import { Badge, Empty, ErrorBox, Field } from '../components/ui.js';
import { fmtAgo, fmtCount, fmtMs, fmtTime } from '../format.js';
import { useNow, usePoll } from '../hooks.js';
import type { Route } from '../router.js';
import type { AttackRecord, Graph } from '../types.js';

export const ATTACKS_CHANGED = 'labcoat:attacks-changed';

export function AttacksView({ session, route }: { session: Session; route: Route }) {
  const admin = session.role === 'admin';
  const attacks = usePoll((signal) => api.get<{ attacks: AttackRecord[] }>('/api/attacks?limit=100', { signal, timeoutMs: 5000 }), 1000, []);
  const now = useNow(1000);
  useEffect(() => {
    const on = (): void => attacks.refresh();
    window.addEventListener(ATTACKS_CHANGED, on);
    return () => window.removeEventListener(ATTACKS_CHANGED, on);
  }, [attacks.refresh]);
  const list = attacks.data?.attacks ?? [];
  const active = list.filter((a) => a.state === 'active' && a.expiresAt > now);
  const past = list.filter((a) => !(a.state === 'active' && a.expiresAt > now)).slice(0, 20);
  const [haltError, setHaltError] = useState<unknown>(undefined);
  const [halting, setHalting] = useState<string | undefined>(undefined);

  const halt = async (a: AttackRecord): Promise<void> => {
    setHalting(a.id);
    setHaltError(undefined);
    try {
      await api.post(`/api/attacks/${encodeURIComponent(a.id)}/halt`);
      attacks.refresh();
    } catch (e) {
      setHaltError(e);
    } finally {
      setHalting(undefined);
    }
  };

  return (
    <section class="view attacks-view" aria-labelledby="attacks-title">
      <header class="view-head">
        <h1 id="attacks-title">Attacks</h1>
        <p class="muted">Production fault injection: a share of the requests that match an attack fail at the calls it targets, until it expires or is halted.</p>
      </header>
      {admin ? (
        <AttackFormCard prefill={route.query} onCreated={() => attacks.refresh()} />
      ) : (
        <p class="note" data-testid="viewer-note">
          You are signed in as a <strong>viewer</strong>: you can watch attacks, but creating and halting them needs an admin token.
        </p>
      )}
      <h2>
        Active attacks <span class="count">{active.length}</span>
      </h2>
      <ErrorBox error={attacks.error} title="Could not load attacks" onRetry={attacks.refresh} />
      <ErrorBox error={haltError} title="Halt failed" />
      {attacks.loading && !attacks.data && <p class="muted">Loading…</p>}
      {attacks.data && active.length === 0 && (
        <Empty title="No active attack">
          {admin ? (
            <p>
              Create one above: pick a target (a service such as <code>recommendations</code>, or an injection point from the graph), a fault and a share of requests. Services
              join attacks only when their SDK subscribes to this server (<code>LABCOAT_CONTROL_URL</code>, <code>LABCOAT_CONTROL_TOKEN</code>, and{' '}
              <code>LABCOAT_ATTACK_ENTRY=1</code> on the entry service).
            </p>
          ) : (
            <p>Nothing is being injected right now.</p>
          )}
        </Empty>
      )}
      {active.length > 0 && (
        <table class="data attacks" data-testid="active-attacks">
          <thead>
            <tr>
              <th scope="col">Attack</th>
              <th scope="col">Target</th>
              <th scope="col">Fault</th>
              <th scope="col">Share</th>
              <th scope="col">Ends in</th>
              <th scope="col">Injections</th>
              {admin && <th scope="col"><span class="sr-only">Actions</span></th>}
            </tr>
          </thead>
          <tbody>
            {active.map((a) => (
              <tr key={a.id} data-attack={a.id}>
                <td>
                  <strong>{a.name ?? a.id}</strong>
                  {a.name && <div class="muted mono">{a.id}</div>}
                  {a.labels && <div class="muted">labels {Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(', ')}</div>}
                  {a.entry?.routes && <div class="muted">entry {a.entry.routes.join(', ')}</div>}
                </td>
                <td>{describeTarget(a.target)}</td>
                <td>{describeFault(a.fault)}</td>
                <td>{a.percentage}%</td>
                <td>{fmtMs(Math.max(0, a.expiresAt - now))}</td>
                <td class="injections" data-testid="injections" aria-live="polite">
                  {fmtCount(a.injections)}
                </td>
                {admin && (
                  <td>
                    <button type="button" class="danger small" onClick={() => void halt(a)} disabled={halting === a.id} aria-label={`Halt ${a.name ?? a.id}`}>
                      {halting === a.id ? 'Halting…' : 'Halt'}
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {past.length > 0 && (
        <>
          <h2>Recent</h2>
          <table class="data attacks" data-testid="past-attacks">
            <thead>
              <tr>
                <th scope="col">Attack</th>
                <th scope="col">Target</th>
                <th scope="col">Fault</th>
                <th scope="col">State</th>
                <th scope="col">Ended</th>
                <th scope="col">Injections</th>
              </tr>
            </thead>
            <tbody>
              {past.map((a) => (
                <tr key={a.id} data-attack={a.id}>
                  <td>
                    {a.name ?? a.id}
                    {a.name && <div class="muted mono">{a.id}</div>}
                  </td>
                  <td>{describeTarget(a.target)}</td>
                  <td>{describeFault(a.fault)}</td>
                  <td>
                    <Badge kind={a.state}>{a.state === 'active' ? 'expired' : a.state}</Badge>
                  </td>
                  <td title={fmtTime(a.haltedAt ?? a.expiresAt)}>{fmtAgo(a.haltedAt ?? a.expiresAt, now)}</td>
                  <td>{fmtCount(a.injections)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

function AttackFormCard({ prefill, onCreated }: { prefill: URLSearchParams; onCreated: () => void }) {
  const [form, setForm] = useState<AttackForm>(() => ({
    ...EMPTY_FORM,
    points: prefill.get('point') ?? '',
    services: prefill.get('service') ?? '',
  }));
  const [errors, setErrors] = useState<FormErrors>({});
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>(undefined);
  const [created, setCreated] = useState<AttackRecord | undefined>(undefined);
  const suggestions = usePoll(async (signal) => {
    const g = await api.get<Graph>('/api/graph?window=1h&by=point', { signal });
    return { services: [...new Set(g.services.map((s) => s.name))].sort(), points: [...new Set(g.edges.flatMap((e) => e.points))].sort() };
  }, 0, []);

  useEffect(() => {
    const p = prefill.get('point');
    const s = prefill.get('service');
    if (p || s) setForm((f) => ({ ...f, points: p ?? f.points, services: s ?? f.services }));
  }, [prefill.toString()]);

  const set = <K extends keyof AttackForm>(k: K) => (e: JSX.TargetedEvent<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, Event>) => {
    const next = { ...form, [k]: (e.target as HTMLInputElement).value } as AttackForm;
    setForm(next);
    if (touched) setErrors(validateAttackForm(next).errors);
  };

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setTouched(true);
    setFailure(undefined);
    setCreated(undefined);
    const v = validateAttackForm(form);
    setErrors(v.errors);
    if (!v.definition) {
      focusFirstInvalid();
      return;
    }
    setBusy(true);
    try {
      const rec = await api.post<AttackRecord>('/api/attacks', v.definition);
      setCreated(rec);
      onCreated();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.fields.length > 0) {
        const mapped = formErrorsFromServer(err.fields);
        setErrors(mapped);
        setFailure(new ApiError(422, `the server refused the attack: ${err.message}`, [], err.call));
        focusFirstInvalid();
      } else setFailure(err);
    } finally {
      setBusy(false);
    }
  };

  const err = (k: keyof FormErrors): string | undefined => errors[k];
  const input = (k: keyof AttackForm, props: JSX.InputHTMLAttributes<HTMLInputElement> = {}) => (
    <input id={`atk-${k}`} name={k} value={form[k]} onInput={set(k)} aria-invalid={err(k) ? 'true' : undefined} aria-describedby={err(k) ? `atk-${k}-error` : `atk-${k}-hint`} {...props} />
  );
  const kind = form.kind;

  return (
    <form class="card attack-form" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="new-attack">
      <h2 id="new-attack">New attack</h2>
      {err('target') && (
        <p class="field-error" role="alert" id="atk-target-error">
          {err('target')}
        </p>
      )}
      {err('general') && (
        <p class="field-error" role="alert">
          {err('general')}
        </p>
      )}
      <fieldset>
        <legend>Target — calls to fail (at least one)</legend>
        <div class="grid">
          <Field label="Services (callees)" id="atk-services" error={err('services')} hint="comma-separated, globs allowed: recommendations, evcache-*">
            {input('services', { placeholder: 'recommendations', list: 'atk-service-list', autoComplete: 'off' })}
          </Field>
          <Field label="Injection points" id="atk-points" error={err('points')} hint="point ids or globs: edge->ratings GET /ratings/:id">
            {input('points', { placeholder: 'edge->recommendations GET /recs/:id', list: 'atk-point-list', autoComplete: 'off' })}
          </Field>
          <Field label="Callers" id="atk-callers" error={err('callers')} hint="only calls made by these services">
            {input('callers', { placeholder: 'edge', list: 'atk-service-list', autoComplete: 'off' })}
          </Field>
          <Field label="Routes" id="atk-routes" error={err('routes')} hint="route globs of the call: /recs/*">
            {input('routes', { placeholder: '/recs/*' })}
          </Field>
        </div>
        <datalist id="atk-service-list">
          {suggestions.data?.services.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
        <datalist id="atk-point-list">
          {suggestions.data?.points.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
      </fieldset>
      <fieldset>
        <legend>Which requests join</legend>
        <div class="grid">
          <Field label="Labels (baggage)" id="atk-labels" error={err('labels')} hint="key=glob, one per line; the request must carry them all">
            <textarea id="atk-labels" name="labels" rows={2} value={form.labels} onInput={set('labels')} placeholder="user.id=u-1*" aria-invalid={err('labels') ? 'true' : undefined} />
          </Field>
          <Field label="Entry routes" id="atk-entryRoutes" error={err('entryRoutes')} hint='requests entering at: "GET /home", "* /title/*"'>
            {input('entryRoutes', { placeholder: 'GET /home' })}
          </Field>
          <Field label="Percentage of requests" id="atk-percentage" error={err('percentage')} hint="0 < p ≤ 100">
            {input('percentage', { inputMode: 'decimal', placeholder: '100' })}
          </Field>
          <Field label="Duration" id="atk-duration" error={err('duration')} hint="90s, 5m, 1h (1 s to 24 h)">
            {input('duration', { placeholder: '5m' })}
          </Field>
        </div>
      </fieldset>
      <fieldset>
        <legend>Fault</legend>
        <div class="grid">
          <Field label="Kind" id="atk-kind" error={err('kind')} hint={FAULT_KINDS[kind]}>
            <select id="atk-kind" name="kind" value={kind} onChange={(e) => setForm({ ...form, kind: (e.target as HTMLSelectElement).value as FaultKindName })}>
              {Object.keys(FAULT_KINDS).map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          </Field>
          {kind === 'status' && (
            <>
              <Field label="HTTP status" id="atk-status" error={err('status')} hint="100–599">
                {input('status', { inputMode: 'numeric' })}
              </Field>
              <Field label="Body (optional)" id="atk-body" error={err('body')}>
                {input('body')}
              </Field>
            </>
          )}
          {kind === 'error' && (
            <Field label="Error code" id="atk-code" error={err('code')}>
              <select id="atk-code" name="code" value={form.code} onChange={set('code')}>
                {ERROR_CODES.map((c) => (
                  <option key={c} value={c}>
                    {c}
                  </option>
                ))}
              </select>
            </Field>
          )}
          {kind === 'delay' && (
            <>
              <Field label="Delay (ms)" id="atk-ms" error={err('ms')} hint="0–600000">
                {input('ms', { inputMode: 'numeric' })}
              </Field>
              <Field label="Jitter (ms, optional)" id="atk-jitterMs" error={err('jitterMs')}>
                {input('jitterMs', { inputMode: 'numeric' })}
              </Field>
            </>
          )}
          {kind === 'hang' && (
            <Field label="Give up after (ms, optional)" id="atk-maxMs" error={err('maxMs')} hint="default 60000">
              {input('maxMs', { inputMode: 'numeric' })}
            </Field>
          )}
          {(kind === 'reset' || kind === 'malformed') && (
            <Field label="After bytes (optional)" id="atk-afterBytes" error={err('afterBytes')}>
              {input('afterBytes', { inputMode: 'numeric' })}
            </Field>
          )}
          {kind === 'malformed' && (
            <Field label="Mode" id="atk-mode" error={err('mode')}>
              <select id="atk-mode" name="mode" value={form.mode} onChange={set('mode')}>
                <option value="truncate">truncate</option>
                <option value="corrupt">corrupt</option>
              </select>
            </Field>
          )}
          {kind !== 'delay' && (
            <Field label="Added delay (ms, optional)" id="atk-delayMs" error={err('delayMs')} hint="wait before the fault">
              {input('delayMs', { inputMode: 'numeric' })}
            </Field>
          )}
          <Field label="Name (optional)" id="atk-name" error={err('name')}>
            {input('name', { placeholder: 'home recs 503' })}
          </Field>
        </div>
      </fieldset>
      <ErrorBox error={failure} title="Not created" />
      {created && (
        <p class="ok" role="status">
          Attack <code>{created.id}</code> is active until {fmtTime(created.expiresAt)}.
        </p>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Starting…' : 'Start attack'}
        </button>
        <button
          type="button"
          onClick={() => {
            setForm(EMPTY_FORM);
            setErrors({});
            setTouched(false);
            setFailure(undefined);
          }}
        >
          Clear
        </button>
      </div>
      {messageOf(suggestions.error) && suggestions.error !== undefined && <p class="muted">(no suggestions: {messageOf(suggestions.error)})</p>}
    </form>
  );
}

function focusFirstInvalid(): void {
  requestAnimationFrame(() => (document.querySelector('.attack-form [aria-invalid="true"], .attack-form .invalid input, .attack-form .invalid select, .attack-form .invalid textarea') as HTMLElement | null)?.focus());
}

