/**
 * Lineage: from one execution's spans, which faults could have broken it.
 *
 * LDFI's model (see docs/LDFI.md) is a set of *supports*: for every successful execution, the
 * fault atoms its success depended on. An atom is a (point, mode) pair, `faultAtom(point, mode)`:
 * "inject fault mode `mode` (a key of ExplorerOptions.faults: `error`, `503`, `hang`, …) at
 * injection point `point`". A support S claims: the request survives every fault set that
 * avoids S. That claim rests on two assumptions, stated once here and in the report:
 * - lineage determinism: with the atoms of S intact the request takes the same path again, so
 *   faults at points it did not use cannot matter;
 * - monotonicity: failing more never turns a failure into a success (a support learned under
 *   faults F also speaks for fault sets without F, because they are subsets of one with F).
 *
 * ## Rules, for a successful execution with the planned faults F armed
 *
 * A client span with `labcoat.point` p is a *call*. The atoms of the execution's support are:
 *
 * 1. every mode of p, for each call that completed normally and whose result was used
 *    (*load-bearing*, below);
 * 2. for a load-bearing call that failed (status error, or HTTP ≥ 500) and whose failure was
 *    absorbed (the request still succeeded): every mode except the one it failed with. An injected
 *    failure names its mode (`labcoat.fault`, or the plan); then only the other modes stay, because
 *    the success shows that *this* mode is tolerated and nothing about the others (a fallback that
 *    absorbs an error may not absorb a hang: nested timeouts). A failure that was not injected
 *    (it cascaded from further down) has no known mode, so every mode stays;
 * 3. minus the armed atoms F themselves (the request succeeded with them failing, fired or not).
 *
 * Rule 3 is what moves the search on: a tolerated hypothesis never hits the support its own run
 * learned. Rule 2 keeps a point's other modes in play, which is how a bug that shows under only
 * one mode (a hang past an outer deadline) is still hypothesised after another mode was tolerated.
 *
 * ## Precise lineage: what did not support the success
 *
 * Plain trace lineage (Netflix's) counts every call in the trace. Precise lineage drops the calls
 * whose result the success did not use, as the spans tell:
 * - `optional`: the call is marked `labcoat.optional` (declared optional at its injection point:
 *   fire-and-forget);
 * - `discarded`: the call completed under a policy span whose outcome is `fallback`, before the
 *   failure that triggered the fallback: the primary's partial work was thrown away;
 * - `hedge-loser`: a hedged attempt other than the winner (`labcoat.hedge.winner`);
 * - `under-failed-call`: anything beneath a call that failed (the caller never used that answer).
 * A dropped call drops its whole subtree. The dropped atoms are *hints*, not facts: the engine keeps
 * them out of the supports but verifies each by injecting it (batched with other expected-tolerated
 * faults), and a hint that turns out wrong (its atom is in a failure set) goes back into every
 * support that dropped it. Calls that are absorbed by a retry that succeeded on another point, or by
 * a fallback, are failed calls and follow rule 2 in both lineages.
 *
 * ## Expectations (for batching)
 *
 * Independently of supports, lineage says which atoms are *expected to be tolerated*:
 * - `guarded`: the call runs in the primary part of a policy with a fallback (`labcoat.policy.kinds`
 *   contains `fallback`), here or in any caller up the trace: its failure should be absorbed. For a
 *   slow mode (hang, delay) only if a timeout sits between the call and that fallback (a `timeout`
 *   kind listed after `fallback` in the same pipeline, or a policy in between);
 * - `optional`, `discarded`, `hedge-loser`, `under-failed-call`: the hint reasons above;
 * - `absorbed`: the call failed and the request still succeeded: its fast modes are expected
 *   tolerated; a slow mode only if some timeout encloses the call.
 * The calls made by a fallback itself are guarded only by a fallback further up.
 *
 * ## Incomplete traces
 *
 * A trace is suspect when a server span reports more calls (`labcoat.calls`) than arrived beneath
 * it, or when some span's parent never arrived (more than one root). `problems` says which; the
 * engine then does not trust the support's absence of atoms (it adds what earlier runs used).
 */
import { ATTR, buildTraceTree, type SpanData, type SpanNode } from '../span.js';
import type { Fault } from './engine-types.js';
import { faultAtom } from './solver.js';

/** The fault modes of an exploration, as lineage needs them. */
export interface LineageModes {
  /** Mode names (keys of ExplorerOptions.faults), in a fixed order. */
  readonly modes: readonly string[];
  /** Mode → the label the SDK writes on a span when it injects it (`status:503`); lets lineage tell which mode fired. */
  readonly labels?: ReadonlyMap<string, string>;
  /** Modes that make the call wait (hang, delay): absorbed only where a timeout cuts them. */
  readonly slow?: ReadonlySet<string>;
}

/** Why a call did not support the success (precise lineage), or why a fault is expected to be tolerated. */
export type HintReason = 'optional' | 'discarded' | 'hedge-loser' | 'under-failed-call';
export type ExpectReason = HintReason | 'guarded' | 'absorbed';

/** One dependency call of the execution (a client span with `labcoat.point`). */
export interface CallRecord {
  readonly point: string;
  readonly spanId: string;
  /** Completed normally (not status error, not HTTP ≥ 500). */
  readonly ok: boolean;
  /** Label of the fault injected on it (`labcoat.fault`). */
  readonly fault?: string;
  /** The mode of that fault, from its label or the plan. */
  readonly faultMode?: string;
  /** Its result was used (precise lineage); when false, `hint` says why. */
  readonly loadBearing: boolean;
  readonly hint?: HintReason;
  /** A fallback above absorbs its failure. */
  readonly guarded: boolean;
  /** A timeout between the call and its guard cuts a hang (or, unguarded, any timeout above it). */
  readonly hangCut: boolean;
  /** Client calls above it (0 = made by the entry service). */
  readonly depth: number;
  /** Points of the client calls above it, nearest first. */
  readonly ancestors: readonly string[];
}

/** What one execution's spans say. */
export interface ExecutionLineage {
  readonly calls: readonly CallRecord[];
  /** Distinct points called, in order of first call. */
  readonly points: readonly string[];
  /** Precise support (atoms), armed atoms removed. Meaningful for a successful execution. */
  readonly support: readonly string[];
  /** Atoms plain lineage has and precise lineage dropped (the hints), with why. */
  readonly hinted: ReadonlyMap<string, HintReason>;
  /** Atoms expected to be tolerated, with why (see the module comment). */
  readonly expected: ReadonlyMap<string, ExpectReason>;
  /** Planned faults that fired (a span at their point carries `labcoat.fault`). */
  readonly fired: readonly Fault[];
  /** Planned faults that never fired: their call was not reached. */
  readonly neverFired: readonly Fault[];
  /** Faults seen on spans that the plan did not ask for (point and label). */
  readonly unplanned: readonly { readonly point: string; readonly label: string }[];
  /** False when spans seem to be missing; `problems` says why. */
  readonly complete: boolean;
  readonly problems: readonly string[];
}

/** The plain trace lineage of an analysed execution: every called point's modes, armed atoms removed. */
export function plainSupport(lineage: ExecutionLineage): string[] {
  const out = new Set(lineage.support);
  for (const atom of lineage.hinted.keys()) out.add(atom);
  return [...out];
}

function isFailed(span: SpanData): boolean {
  if (span.status.code === 'error') return true;
  const status = span.attributes['http.response.status_code'];
  return typeof status === 'number' && status >= 500;
}

function policyKinds(span: SpanData): readonly string[] | undefined {
  const kinds = span.attributes[ATTR.policyKinds];
  if (typeof kinds === 'string') return kinds.split(',').map((k) => k.trim());
  if (Array.isArray(kinds)) return kinds as readonly string[];
  if (span.kind === 'internal' && span.name.startsWith('policy ')) return [];
  return undefined;
}

interface Walk {
  loadBearing: boolean;
  hint: HintReason | undefined;
  guarded: boolean;
  /** A timeout between here and the nearest guard above. */
  cutSinceGuard: boolean;
  /** Any timeout above. */
  anyTimeout: boolean;
  ancestors: readonly string[];
}

/**
 * Analyses one execution's spans: its calls, its support, the hints precise lineage used, the
 * faults expected to be tolerated, which planned faults fired. `ok` is the oracle's verdict
 * (absorbed failures only count as absorbed in a successful execution).
 *
 * @example
 * const lin = analyseExecution(spans, { modes: ['error', 'hang'] }, [{ point: 'api->cache get', mode: 'error' }], true);
 * lin.support;    // e.g. ['edge->api GET /home#error', 'edge->api GET /home#hang', 'api->cache get#hang', 'api->db select#error', …]
 * lin.fired;      // [{ point: 'api->cache get', mode: 'error' }]
 */
export function analyseExecution(spans: readonly SpanData[], modes: LineageModes, planned: readonly Fault[] = [], ok = true): ExecutionLineage {
  const modeByLabel = new Map<string, string>();
  for (const [mode, label] of modes.labels ?? []) modeByLabel.set(label, mode);
  const plannedMode = new Map<string, string>();
  for (const f of planned) if (!plannedMode.has(f.point)) plannedMode.set(f.point, f.mode);
  const slow = modes.slow ?? new Set<string>();

  const roots = buildTraceTree(spans);
  const problems: string[] = [];
  if (spans.length === 0) problems.push('no spans');
  else if (roots.length > 1) problems.push(`${roots.length - 1} span(s) whose parent never arrived`);

  const calls: CallRecord[] = [];
  const visitServer = (node: SpanNode): void => {
    const declared = node.span.attributes[ATTR.calls];
    if (typeof declared === 'number') {
      let arrived = 0;
      const count = (n: SpanNode): void => {
        for (const c of n.children) {
          if (c.span.kind === 'server') continue;
          if (c.span.kind === 'client') arrived++;
          count(c);
        }
      };
      count(node);
      if (arrived < declared) problems.push(`${node.span.service} reported ${declared} calls, ${arrived} arrived`);
    }
  };

  const walk = (node: SpanNode, w: Walk): void => {
    const span = node.span;
    if (span.kind === 'server') visitServer(node);
    const kinds = span.kind === 'internal' ? policyKinds(span) : undefined;
    if (kinds !== undefined) {
      walkPolicy(node, kinds, w);
      return;
    }
    let next = w;
    if (span.kind === 'client' && typeof span.attributes[ATTR.point] === 'string') {
      const point = span.attributes[ATTR.point] as string;
      const failed = isFailed(span);
      const label = typeof span.attributes[ATTR.fault] === 'string' ? (span.attributes[ATTR.fault] as string) : undefined;
      const faultMode = label !== undefined ? (modeByLabel.get(label) ?? plannedMode.get(point)) : failed ? plannedMode.get(point) : undefined;
      const optional = span.attributes[ATTR.optional] === true;
      const loadBearing = w.loadBearing && !optional;
      const hint: HintReason | undefined = w.loadBearing ? (optional ? 'optional' : undefined) : w.hint;
      calls.push({
        point,
        spanId: span.spanId,
        ok: !failed,
        ...(label !== undefined ? { fault: label } : {}),
        ...(faultMode !== undefined ? { faultMode } : {}),
        loadBearing,
        ...(hint !== undefined ? { hint } : {}),
        guarded: w.guarded,
        hangCut: w.guarded ? w.cutSinceGuard : w.anyTimeout,
        depth: w.ancestors.length,
        ancestors: w.ancestors,
      });
      next = {
        ...w,
        loadBearing: loadBearing && !failed,
        hint: !loadBearing ? hint : failed ? 'under-failed-call' : undefined,
        ancestors: [point, ...w.ancestors],
      };
    }
    for (const child of node.children) walk(child, next);
  };

  const walkPolicy = (node: SpanNode, kinds: readonly string[], w: Walk): void => {
    const attrs = node.span.attributes;
    const fb = kinds.indexOf('fallback');
    const to = kinds.lastIndexOf('timeout');
    const anyTimeout = w.anyTimeout || to >= 0;
    // Inside the primary part of this policy: guarded by it when it has a fallback.
    const primary: Walk =
      fb >= 0
        ? { ...w, guarded: true, cutSinceGuard: to > fb, anyTimeout }
        : { ...w, cutSinceGuard: w.cutSinceGuard || to >= 0, anyTimeout };
    const children = node.children;
    // Hedging: attempts other than the winner were discarded.
    const winner = attrs[ATTR.hedgeWinner];
    if (kinds.includes('hedging') && typeof winner === 'number' && winner >= 0 && winner < children.length && children.length > 1) {
      children.forEach((child, i) => {
        walk(child, i === winner ? primary : { ...primary, loadBearing: false, hint: primary.loadBearing ? 'hedge-loser' : primary.hint });
      });
      return;
    }
    if (fb >= 0 && attrs[ATTR.policyOutcome] === 'fallback') {
      // The fallback ran after the primary's last failure: children that start after it belong to
      // the fallback (guarded only from further up); those before it were the primary's work.
      let split = -Infinity;
      for (const c of children) {
        const failed =
          c.span.kind === 'internal'
            ? c.span.attributes[ATTR.policyOutcome] === 'failure' || c.span.attributes[ATTR.policyOutcome] === 'rejected' || isFailed(c.span)
            : isFailed(c.span);
        if (failed && c.span.endMs > split) split = c.span.endMs;
      }
      if (split === -Infinity) {
        // Nothing says where the primary ended: every child may have produced the result.
        for (const c of children) walk(c, w);
        return;
      }
      for (const c of children) {
        if (c.span.startMs >= split) walk(c, w);
        else if (isFailed(c.span) || (c.span.kind === 'internal' && c.span.attributes[ATTR.policyOutcome] !== 'success' && c.span.attributes[ATTR.policyOutcome] !== 'fallback')) walk(c, primary);
        else walk(c, { ...primary, loadBearing: false, hint: primary.loadBearing ? 'discarded' : primary.hint });
      }
      return;
    }
    for (const c of children) walk(c, primary);
  };

  const top: Walk = { loadBearing: true, hint: undefined, guarded: false, cutSinceGuard: false, anyTimeout: false, ancestors: [] };
  for (const root of roots) walk(root, top);

  // Support, hints, expectations.
  const armed = new Set(planned.map((f) => faultAtom(f.point, f.mode)));
  const support = new Set<string>();
  const hintedRaw = new Map<string, HintReason>();
  const expected = new Map<string, ExpectReason>();
  const expect = (atom: string, why: ExpectReason): void => {
    if (!expected.has(atom)) expected.set(atom, why);
  };
  const points: string[] = [];
  const seen = new Set<string>();
  for (const c of calls) {
    if (!seen.has(c.point)) {
      seen.add(c.point);
      points.push(c.point);
    }
    for (const mode of modes.modes) {
      const atom = faultAtom(c.point, mode);
      const isSlow = slow.has(mode);
      // What the execution used.
      if (!c.ok && c.faultMode === mode) {
        // Rule 2: the mode it failed with is not in the support.
      } else if (c.loadBearing) support.add(atom);
      else hintedRaw.set(atom, c.hint ?? 'under-failed-call');
      // Expectations.
      if (c.guarded && (!isSlow || c.hangCut)) expect(atom, 'guarded');
      if (!c.loadBearing && c.hint !== undefined) expect(atom, c.hint);
      if (ok && !c.ok && (!isSlow || c.hangCut)) expect(atom, 'absorbed');
    }
  }
  for (const a of armed) support.delete(a);
  const hinted = new Map<string, HintReason>();
  for (const [atom, why] of hintedRaw) if (!support.has(atom) && !armed.has(atom)) hinted.set(atom, why);

  // Fired vs planned.
  const firedPoints = new Map<string, string>();
  for (const c of calls) if (c.fault !== undefined && !firedPoints.has(c.point)) firedPoints.set(c.point, c.fault);
  const fired: Fault[] = [];
  const neverFired: Fault[] = [];
  for (const f of planned) (firedPoints.has(f.point) ? fired : neverFired).push(f);
  const unplanned: { point: string; label: string }[] = [];
  for (const [point, label] of firedPoints) if (!plannedMode.has(point)) unplanned.push({ point, label });

  return {
    calls,
    points,
    support: [...support],
    hinted,
    expected,
    fired,
    neverFired,
    unplanned,
    complete: problems.length === 0,
    problems,
  };
}
