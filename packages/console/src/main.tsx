/**
 * labcoat's web console: sign in with a token, then the service graph, attacks (with the Halt all
 * kill switch in the header), campaigns and traces. Served by `labcoat server` at `/`.
 */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, setToken, setUnauthorizedHandler } from './api.js';
import { forget, signIn, storedToken, type Session } from './auth.js';
import { ConfirmDialog, ErrorBox } from './components/ui.js';
import { href, useRoute } from './router.js';
import { ATTACKS_CHANGED, AttacksView } from './views/Attacks.js';
import { CampaignsView } from './views/Campaigns.js';
import { GraphView } from './views/Graph.js';
import { TracesView } from './views/Traces.js';
import type { AttackRecord, Health } from './types.js';
import './styles.css';

function App() {
  const [session, setSession] = useState<Session | undefined>(undefined);
  const [restoring, setRestoring] = useState(() => storedToken() !== undefined);
  const [signedOutWhy, setSignedOutWhy] = useState<string | undefined>(undefined);
  const signedIn = useRef(false);
  signedIn.current = session !== undefined;

  useEffect(() => {
    setUnauthorizedHandler((e) => {
      // Only a session in use is ended here; a token being tried shows its error on the login form.
      if (!signedIn.current) return;
      forget();
      setSession(undefined);
      setSignedOutWhy(`Signed out: the server refused the token (${e.message}).`);
    });
    const t = storedToken();
    if (!t) return;
    signIn(t)
      .then(setSession)
      .catch((e: unknown) => {
        forget();
        setSignedOutWhy(e instanceof ApiError ? `Could not restore the session: ${e.message}` : String(e));
      })
      .finally(() => setRestoring(false));
  }, []);

  if (restoring) return <p class="muted center">Signing in…</p>;
  if (!session)
    return (
      <Login
        notice={signedOutWhy}
        onSignedIn={(s) => {
          setSignedOutWhy(undefined);
          setSession(s);
        }}
      />
    );
  return (
    <Shell
      session={session}
      onSignOut={() => {
        forget();
        setSession(undefined);
      }}
    />
  );
}

function Login({ onSignedIn, notice }: { onSignedIn: (s: Session) => void; notice?: string | undefined }) {
  const [token, setTokenText] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await signIn(token));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form class="card" onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
        <h1 id="login-title">
          <span class="logo" aria-hidden="true">
            ⚗
          </span>{' '}
          labcoat
        </h1>
        <p class="muted">Failure testing for microservices. Sign in with a token from this server.</p>
        {notice && <p class="note">{notice}</p>}
        <div class="field">
          <label for="token">Token</label>
          <input id="token" name="token" type="password" autoComplete="off" spellcheck={false} value={token} onInput={(e) => setTokenText((e.target as HTMLInputElement).value)} placeholder="lc_a_…" autoFocus />
          <small class="hint">
            Create one on the server’s machine: <code>labcoat token create --role admin</code> (or <code>--role viewer</code> for read-only).
          </small>
        </div>
        <ErrorBox error={error} title="Not signed in" />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  const admin = session.role === 'admin';
  const health = useHealth();
  const nav: { view: 'graph' | 'attacks' | 'campaigns' | 'traces'; label: string }[] = [
    { view: 'graph', label: 'Graph' },
    { view: 'attacks', label: 'Attacks' },
    { view: 'campaigns', label: 'Campaigns' },
    { view: 'traces', label: 'Traces' },
  ];
  return (
    <>
      <header class="top">
        <a class="brand" href={href('graph')}>
          <span aria-hidden="true">⚗</span> labcoat
        </a>
        <nav aria-label="sections">
          {nav.map((n) => (
            <a key={n.view} href={href(n.view)} aria-current={route.view === n.view ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <div class="spacer" />
        {health.error !== undefined && (
          <span class="badge bad" title={String((health.error as Error).message ?? health.error)}>
            server unreachable
          </span>
        )}
        {admin && <HaltAll />}
        <span class={`badge role ${session.role}`} title={session.note ?? `signed in as ${session.role}`} data-testid="role">
          {session.name ? `${session.name} · ` : ''}
          {session.role}
        </span>
        <button type="button" class="link" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      {session.note && <p class="note banner">{session.note}</p>}
      <main id="main">
        {route.view === 'graph' && <GraphView session={session} route={route} />}
        {route.view === 'attacks' && <AttacksView session={session} route={route} />}
        {route.view === 'campaigns' && <CampaignsView session={session} route={route} />}
        {route.view === 'traces' && <TracesView route={route} />}
      </main>
    </>
  );
}

function useHealth(): { data?: Health; error?: unknown } {
  const [state, setState] = useState<{ data?: Health; error?: unknown }>({});
  useEffect(() => {
    let stopped = false;
    const tick = async (): Promise<void> => {
      try {
        const h = await api.get<Health>('/api/health', { timeoutMs: 5000 });
        if (!stopped) setState({ data: h });
      } catch (e) {
        if (!stopped) setState({ error: e });
      }
    };
    void tick();
    const t = setInterval(() => void tick(), 15_000);
    return () => {
      stopped = true;
      clearInterval(t);
    };
  }, []);
  return state;
}

/** The kill switch: always in the header for admins; asks first, then halts every active attack at once. */
function HaltAll() {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const [active, setActive] = useState<number | undefined>(undefined);
  const ask = async (): Promise<void> => {
    setError(undefined);
    setDone(undefined);
    setAsking(true);
    try {
      const r = await api.get<{ attacks: AttackRecord[] }>('/api/attacks?state=active&limit=1000', { timeoutMs: 3000 });
      setActive(r.attacks.length);
    } catch {
      setActive(undefined);
    }
  };
  const confirm = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await api.post<{ halted: string[] }>('/api/halt-all', undefined, { timeoutMs: 5000 });
      setAsking(false);
      setDone(`Halted ${r.halted.length} attack${r.halted.length === 1 ? '' : 's'}.`);
      window.dispatchEvent(new Event(ATTACKS_CHANGED));
      setTimeout(() => setDone(undefined), 6000);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" class="danger halt-all" onClick={() => void ask()}>
        Halt all
      </button>
      {done && (
        <span class="toast" role="status">
          {done}
        </span>
      )}
      <ConfirmDialog open={asking} title="Halt every attack?" confirmLabel="Halt all attacks" danger busy={busy} onConfirm={() => void confirm()} onCancel={() => setAsking(false)}>
        <p>
          {active === undefined ? 'Every active attack' : active === 0 ? 'No attack is active right now; halting is harmless' : `${active} active attack${active === 1 ? '' : 's'}`} will stop
          injecting: services drop them as soon as the new snapshot reaches them (well within a second).
        </p>
        <ErrorBox error={error} title="Halt all failed" />
      </ConfirmDialog>
    </>
  );
}

setToken(undefined);
render(<App />, document.getElementById('app')!);
