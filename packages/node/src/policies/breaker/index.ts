/** Circuit-breaker strategies: when a closed circuit opens. */
export { STRATEGY_CLAIMED, type BreakerStrategy, type CircuitState, type JsonValue, type RateThresholds, type RateTripReason } from './strategy.js';
export * from './consecutive.js';
export * from './count-window.js';
export * from './time-window.js';
