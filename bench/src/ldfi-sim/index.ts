export * from './model.js';
export * from './generate.js';
export * from './baselines.js';
