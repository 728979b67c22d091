import { createHmac, timingSafeEqual } from 'node:crypto';
import type { PlanMac } from '@labcoat/core';

/**
 * HMAC-SHA256 plan signing with a key shared by the services.
 *
 * @example const mac = hmacMac(process.env.LABCOAT_KEY!);
 */
export function hmacMac(key: string | Buffer): PlanMac {
  if ((typeof key === 'string' ? Buffer.byteLength(key) : key.length) < 16) {
    throw new Error('labcoat: the plan signing key must be at least 16 bytes; set LABCOAT_KEY or the `key` option to a long random secret');
  }
  const sign = (data: string): string => createHmac('sha256', key).update(data).digest('base64url');
  return {
    sign,
    verify(data, mac) {
      if (typeof mac !== 'string' || mac.length !== 43) return false;
      const expected = Buffer.from(sign(data), 'latin1');
      const given = Buffer.from(mac, 'latin1');
      return given.length === expected.length && timingSafeEqual(expected, given);
    },
  };
}
