import { setTimeout as sleep } from 'node:timers/promises';

/**
 * An error shaped like the one Node raises for a real network failure (`code`, `errno`,
 * `syscall`), so application code that checks `err.code === 'ECONNREFUSED'` reacts as it would in
 * production. `labcoatInjected` tells tests and spans it was injected.
 */
export function networkError(code: string, message: string): NodeJS.ErrnoException & { labcoatInjected: true } {
  const err = new Error(message) as NodeJS.ErrnoException & { labcoatInjected: true };
  err.code = code;
  err.syscall = code === 'ENOTFOUND' ? 'getaddrinfo' : code === 'EPIPE' ? 'write' : code === 'ECONNRESET' ? 'read' : 'connect';
  err.labcoatInjected = true;
  return err;
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export async function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) {
    signal?.throwIfAborted();
    return;
  }
  await sleep(ms, undefined, signal ? { signal } : undefined).catch((e: unknown) => {
    throw signal?.aborted ? signal.reason : e;
  });
}

/** Bytes that no JSON, UTF-8 or protobuf parser accepts; what a corrupt body is overwritten with. */
export function garbage(length: number): Buffer {
  return Buffer.alloc(length, 0xff);
}
