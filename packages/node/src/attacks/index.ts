export { AttackClient, resolveAttackOptions, type AttackOptions, type AttackState } from './client.js';
export { compileAttack, parseSnapshot, type ActiveAttack, type Snapshot } from './attack.js';
export { ATTACK_BAGGAGE_KEY, decodeMark, encodeMark, MarkVerifier, MARK_TTL_MS, type AttackMark, type MarkRejection } from './mark.js';
export { SseParser } from './sse.js';
