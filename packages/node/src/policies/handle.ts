/**
 * Which outcomes a policy treats as failures. By default every thrown error is one and no returned
 * value is; a classifier narrows or widens that (only 5xx, only network errors, a `{ ok: false }`
 * result…). Policies that retry, break or fall back consult it; the others ignore it.
 */
export interface FailureClassifier {
  /** True when a thrown error counts as a failure. */
  error(error: unknown): boolean;
  /** True when a returned value counts as a failure. */
  result(value: unknown): boolean;
}

/** Every error is a failure, no result is. */
export const handleAll: FailureClassifier = Object.freeze({ error: () => true, result: () => false });

/** Errors that are instances of `type` (and pass `predicate`, when given). */
export function handleType<E>(type: abstract new (...args: never[]) => E, predicate?: (error: E) => boolean): FailureClassifier {
  return { error: (e) => e instanceof type && (predicate === undefined || predicate(e as E)), result: () => false };
}

/** Errors for which `predicate` is true. */
export function handleWhen(predicate: (error: unknown) => boolean): FailureClassifier {
  return { error: predicate, result: () => false };
}

/** Results for which `predicate` is true (errors are failures too, unless combined otherwise). */
export function handleResult<T>(predicate: (value: T) => boolean): FailureClassifier {
  return { error: () => true, result: (v) => predicate(v as T) };
}

/** A failure when any of the classifiers says so. */
export function handleAny(...classifiers: FailureClassifier[]): FailureClassifier {
  return { error: (e) => classifiers.some((c) => c.error(e)), result: (v) => classifiers.some((c) => c.result(v)) };
}

/**
 * HTTP-aware default for calls that return responses: errors are failures, and so are responses
 * (fetch `Response`, undici `{ statusCode }`, axios-like `{ status }`) with status 5xx or 429.
 */
export const handleHttp: FailureClassifier = Object.freeze({
  error: () => true,
  result: (v: unknown) => {
    const status = statusOf(v);
    return status !== undefined && (status >= 500 || status === 429);
  },
});

/** The HTTP status of a response-like value, if it has one. */
export function statusOf(v: unknown): number | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const r = v as { status?: unknown; statusCode?: unknown };
  const s = typeof r.status === 'number' ? r.status : r.statusCode;
  return typeof s === 'number' ? s : undefined;
}
