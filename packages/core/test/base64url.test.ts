import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { base64urlToUtf8, decodeBase64url, encodeBase64url, utf8ToBase64url } from '../src/index.js';
import { anyString, RUNS } from './helpers.js';

const bytes = (...b: number[]) => new Uint8Array(b);
const ascii = (s: string) => new TextEncoder().encode(s);

describe('encodeBase64url', () => {
  it('matches the RFC 4648 test vectors, without padding', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, encoded] of vectors) {
      assert.equal(encodeBase64url(ascii(plain)), encoded, plain);
      assert.deepEqual(decodeBase64url(encoded), ascii(plain), encoded);
    }
  });

  it('uses - and _ instead of + and /', () => {
    assert.equal(encodeBase64url(bytes(0xfb, 0xff, 0xbf)), '-_-_');
    assert.equal(encodeBase64url(bytes(0xff, 0xff)), '__8');
    assert.deepEqual(decodeBase64url('-_-_'), bytes(0xfb, 0xff, 0xbf));
  });

  it('output length is ceil(4n/3) and uses only the url-safe alphabet (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (data) => {
        const text = encodeBase64url(data);
        assert.equal(text.length, Math.ceil((data.length * 4) / 3));
        assert.match(text, /^[A-Za-z0-9_-]*$/);
      }),
      RUNS,
    );
  });
});

describe('decodeBase64url', () => {
  it('round-trips arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        assert.deepEqual(decodeBase64url(encodeBase64url(data)), data);
      }),
      RUNS,
    );
  });

  it('agrees with a reference implementation (property)', () => {
    // Reference: standard base64 via btoa over a binary string, made url-safe and unpadded.
    const reference = (data: Uint8Array) =>
      btoa(String.fromCharCode(...data))
        .replace(/\+/g, '-')
        .replace(/\//g, '_')
        .replace(/=+$/, '');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (data) => {
        assert.equal(encodeBase64url(data), reference(data));
      }),
      RUNS,
    );
  });

  it('returns undefined for characters outside the alphabet', () => {
    for (const bad of ['Zm9v+', 'Zm9v/', 'Zm9v=', 'Zg==', 'Zm 9v', 'Zm9\u00e9', 'Zm.v', 'Zm\nv', '\u0100AAA']) {
      assert.equal(decodeBase64url(bad), undefined, JSON.stringify(bad));
    }
  });

  it('returns undefined for an impossible length (4n+1)', () => {
    assert.equal(decodeBase64url('A'), undefined);
    assert.equal(decodeBase64url('AAAAA'), undefined);
  });

  it('decodes the empty string to no bytes', () => {
    assert.deepEqual(decodeBase64url(''), new Uint8Array(0));
  });

  it('never throws and never returns bytes for non-alphabet input (property)', () => {
    fc.assert(
      fc.property(anyString(40), (s) => {
        const out = decodeBase64url(s);
        if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) assert.equal(out, undefined);
        else assert.ok(out instanceof Uint8Array && out.length === Math.floor((s.length * 3) / 4));
      }),
      RUNS,
    );
  });
});

describe('utf8ToBase64url / base64urlToUtf8', () => {
  it('round-trips unicode text, including astral characters (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), (text) => {
        const encoded = utf8ToBase64url(text);
        assert.match(encoded, /^[A-Za-z0-9_-]*$/);
        assert.equal(base64urlToUtf8(encoded), text);
      }),
      RUNS,
    );
  });

  it('encodes UTF-8, not UTF-16', () => {
    assert.equal(utf8ToBase64url('é'), 'w6k');
    assert.equal(utf8ToBase64url('😀'), '8J-YgA');
    assert.equal(base64urlToUtf8('8J-YgA'), '😀');
  });

  it('returns undefined for invalid base64url or invalid UTF-8', () => {
    assert.equal(base64urlToUtf8('Zg=='), undefined);
    assert.equal(base64urlToUtf8('A'), undefined);
    assert.equal(base64urlToUtf8(encodeBase64url(bytes(0xff))), undefined, 'lone 0xff');
    assert.equal(base64urlToUtf8(encodeBase64url(bytes(0xc3))), undefined, 'truncated sequence');
    assert.equal(base64urlToUtf8(encodeBase64url(bytes(0xed, 0xa0, 0x80))), undefined, 'encoded surrogate');
  });
});
