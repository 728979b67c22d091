/**
 * Typed errors the policies throw. Each says which policy refused and why, so callers can tell a
 * refusal by a policy (fail fast, no call made) from a failure of the dependency itself.
 */

/** Base of every error a policy throws on its own account. `policy` is the policy's name. */
export class PolicyError extends Error {
  static {
    // On the prototype, not per instance: a refusal is on the hot path of an open circuit.
    this.prototype.name = 'PolicyError';
  }
  constructor(
    message: string,
    readonly policy: string,
  ) {
    super(message);
  }
}

/** The circuit is open (or half-open with its probes taken): the call was not made. */
export class BrokenCircuitError extends PolicyError {
  static {
    this.prototype.name = 'BrokenCircuitError';
  }
  constructor(policy: string, message = `circuit breaker "${policy}" is open; the call was not made`) {
    super(message, policy);
  }
}

/** The circuit was isolated by hand (`isolate()`): the call was not made. */
export class IsolatedCircuitError extends BrokenCircuitError {
  static {
    this.prototype.name = 'IsolatedCircuitError';
  }
  constructor(policy: string) {
    super(policy, `circuit breaker "${policy}" is isolated; the call was not made`);
  }
}

/** The bulkhead's concurrency and queue are both full: the call was not made. */
export class BulkheadRejectedError extends PolicyError {
  static {
    this.prototype.name = 'BulkheadRejectedError';
  }
  constructor(
    policy: string,
    readonly executionSlots: number,
    readonly queueSlots: number,
  ) {
    super(`bulkhead "${policy}" is full (${executionSlots} running, ${queueSlots} queued); the call was not made`, policy);
  }
}

/** The call did not finish within its deadline. */
export class TimeoutError extends PolicyError {
  static {
    this.prototype.name = 'TimeoutError';
  }
  readonly code = 'ETIMEDOUT';
  constructor(
    policy: string,
    readonly timeoutMs: number,
  ) {
    super(`"${policy}" timed out after ${timeoutMs} ms`, policy);
  }
}

/** The rate limiter had no token for the call: it was not made. */
export class RateLimitedError extends PolicyError {
  static {
    this.prototype.name = 'RateLimitedError';
  }
  constructor(
    policy: string,
    /** When a token will be available again. */
    readonly retryAfterMs: number,
  ) {
    super(`rate limiter "${policy}" has no capacity; retry in ${Math.ceil(retryAfterMs)} ms`, policy);
  }
}

/** The caller's AbortSignal fired before the call finished. */
export class CancelledError extends PolicyError {
  static {
    this.prototype.name = 'AbortError';
  }
  constructor(
    policy: string,
    readonly reason?: unknown,
  ) {
    super(`"${policy}" was cancelled by its caller`, policy);
  }
}

/** True for the errors that mean a policy refused the call without making it. */
export function isRejection(error: unknown): error is BrokenCircuitError | BulkheadRejectedError | RateLimitedError {
  return error instanceof BrokenCircuitError || error instanceof BulkheadRejectedError || error instanceof RateLimitedError;
}
