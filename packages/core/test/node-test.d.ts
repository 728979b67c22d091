/**
 * Minimal typings for the two Node modules the core tests use. packages/core compiles with
 * `"types": []` so that Node globals cannot leak into its pure sources; pulling in @types/node
 * from a test file would make them visible program-wide, so the tests declare only this subset.
 */
declare module 'node:test' {
  type Body = () => void | Promise<void>;
  export function describe(name: string, fn: () => void): void;
  export function it(name: string, fn: Body): void;
  export function test(name: string, fn: Body): void;
}

declare module 'node:assert/strict' {
  type ErrorMatcher = RegExp | (new (...args: any[]) => Error) | ((err: any) => boolean) | Record<string, unknown>;
  interface Assert {
    (value: unknown, message?: string | Error): asserts value;
    ok(value: unknown, message?: string | Error): asserts value;
    equal<T>(actual: unknown, expected: T, message?: string | Error): asserts actual is T;
    notEqual(actual: unknown, expected: unknown, message?: string | Error): void;
    deepEqual<T>(actual: unknown, expected: T, message?: string | Error): asserts actual is T;
    notDeepEqual(actual: unknown, expected: unknown, message?: string | Error): void;
    strictEqual<T>(actual: unknown, expected: T, message?: string | Error): asserts actual is T;
    match(value: string, regexp: RegExp, message?: string | Error): void;
    doesNotMatch(value: string, regexp: RegExp, message?: string | Error): void;
    throws(fn: () => unknown, expected?: ErrorMatcher | string, message?: string | Error): void;
    doesNotThrow(fn: () => unknown, message?: string | Error): void;
    fail(message?: string | Error): never;
  }
  const assert: Assert;
  export default assert;
}
