/**
 * Deterministic pseudo-randomness for fault decisions: the same request, point and attempt always
 * draw the same number, so a probabilistic experiment can be replayed.
 */

/** FNV-1a 32-bit over a string. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A number in [0, 1) from a key, mixed so that nearby keys spread out. */
export function unitFromKey(key: string): number {
  let h = fnv1a(key);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
