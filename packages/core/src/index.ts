/**
 * @labcoat/core — pure TypeScript (no Node APIs): W3C trace context and baggage, the fault plan
 * format and its signing interface, fault kinds, injection point identity, and the span model.
 */
export * from './errors.js';
export * from './trace-context.js';
export * from './baggage.js';
export * from './base64url.js';
export * from './faults/index.js';
export * from './point.js';
export * from './match.js';
export * from './plan.js';
export * from './random.js';
export * from './span.js';
export * from './ldfi/index.js';
