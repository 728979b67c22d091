import { Outcome } from './stats.js';
import { BasePolicy, handTime, invoke, type CommonPolicyOptions, type PolicyContext, type PolicyFn, type PolicyKind } from './policy.js';

/**
 * Policies run one inside the other, the first outermost: `wrap(fallback, retry, breaker, timeout)`
 * retries the breaker-guarded, timed call and falls back when all retries fail. Each policy passes
 * the context it makes (its signal, its attempt number) to the next. One policy span per execution.
 */
export class Pipeline extends BasePolicy {
  readonly kind = 'pipeline' as const;
  readonly policies: readonly BasePolicy[];

  constructor(policies: readonly BasePolicy[], options: CommonPolicyOptions = {}) {
    super('pipeline', { name: options.name ?? (policies.map((p) => p.name).join('+') || 'pipeline'), ...withoutName(options) });
    if (policies.length === 0) throw new TypeError('wrap(): give at least one policy');
    for (const [i, p] of policies.entries()) {
      if (!(p instanceof BasePolicy)) throw new TypeError(`wrap(): argument ${i} is not a labcoat policy`);
    }
    this.policies = policies;
  }

  override get kinds(): readonly PolicyKind[] {
    return this.policies.flatMap((p) => p.kinds);
  }

  run<T>(fn: PolicyFn<T>, ctx: PolicyContext): Promise<T> {
    const ps = this.policies;
    const start = this.startTime();
    const step = (i: number, c: PolicyContext): Promise<T> => {
      if (i < ps.length) return ps[i]!.run((next) => step(i + 1, next), c);
      handTime(undefined); // the user's function never sees it
      return invoke(fn, c);
    };
    let result: Promise<T>;
    if (this.defaultClock) {
      handTime(start);
      try {
        result = step(0, ctx);
      } finally {
        handTime(undefined);
      }
    } else result = step(0, ctx);
    // Watched from the side, as the breaker does: the caller gets the innermost promise, one
    // promise and one tick fewer than a chained then; this reaction, registered first, still
    // books the outcome before the caller resumes.
    result.then(
      () => {
        if (this.successListened || this.latencySampled(start)) {
          const end = this.now();
          const d = end - start;
          this.stats.record(Outcome.success, d, end);
          this.emitSuccess(d);
        } else this.stats.record(Outcome.success, -1, start);
      },
      (error: unknown) => {
        const end = this.now();
        const d = end - start;
        const cancelled = ctx.signal.aborted;
        this.stats.record(cancelled ? Outcome.cancelled : Outcome.failure, d, end);
        this.emitFailure(d, !cancelled, { error });
      },
    );
    return result;
  }
}

function withoutName(o: CommonPolicyOptions): CommonPolicyOptions {
  const { name: _name, ...rest } = o;
  return rest;
}

/**
 * Composes policies, the first outermost. A plain options object may come last (`name`, `labcoat`,
 * `stats`, `now`) to name the pipeline: its name is the policy span's and the metrics'.
 *
 * @example
 * const resilient = wrap(fallback(() => cached), retry({ maxAttempts: 3 }), circuitBreaker(), timeout(500), { name: 'ratings' });
 * const res = await resilient.execute(({ signal }) => fetch(url, { signal }));
 */
export function wrap(...policies: BasePolicy[]): Pipeline;
export function wrap(...args: [...BasePolicy[], CommonPolicyOptions]): Pipeline;
export function wrap(...args: (BasePolicy | CommonPolicyOptions)[]): Pipeline {
  const last = args[args.length - 1];
  if (last !== undefined && !(last instanceof BasePolicy) && typeof last === 'object') {
    return new Pipeline(args.slice(0, -1) as BasePolicy[], last);
  }
  return new Pipeline(args as BasePolicy[]);
}
