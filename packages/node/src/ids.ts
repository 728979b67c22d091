import { randomFillSync } from 'node:crypto';

// Ids are drawn from a pooled buffer: one getrandom() call per 512 span ids instead of one each.
const POOL = Buffer.allocUnsafe(4096);
let offset = POOL.length;

function take(bytes: number): string {
  if (offset + bytes > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const hex = POOL.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

export function newTraceId(): string {
  const id = take(16);
  return id === '00000000000000000000000000000000' ? newTraceId() : id;
}

export function newSpanId(): string {
  const id = take(8);
  return id === '0000000000000000' ? newSpanId() : id;
}
