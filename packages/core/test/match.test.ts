import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileGlob, compileSelector, pointId, type PointDescriptor } from '../src/index.js';
import { RUNS } from './helpers.js';

describe('compileGlob', () => {
  it('without wildcards matches exactly', () => {
    const g = compileGlob('profiles');
    assert.ok(g('profiles'));
    assert.ok(!g('profiles2'));
    assert.ok(!g('xprofiles'));
    assert.ok(!g('Profiles'));
    assert.ok(!g(''));
  });

  it('treats regex characters literally', () => {
    assert.ok(compileGlob('/a.b')('/a.b'));
    assert.ok(!compileGlob('/a.b')('/axb'));
    assert.ok(compileGlob('/v1/(x)+[y]?^$|{2}\\*')('/v1/(x)+[y]?^$|{2}\\'), 'only * is special');
    assert.ok(!compileGlob('/a.b/*')('/axb/c'));
    assert.ok(compileGlob('a+b*')('a+bcd'));
    assert.ok(!compileGlob('a+b*')('aabcd'));
  });

  it('* matches any run of characters except /', () => {
    const g = compileGlob('/profiles/*');
    assert.ok(g('/profiles/42'));
    assert.ok(g('/profiles/'));
    assert.ok(!g('/profiles/42/avatar'));
    assert.ok(!g('/profiles'));
    const mid = compileGlob('/users/*/avatar');
    assert.ok(mid('/users/:id/avatar'));
    assert.ok(!mid('/users/a/b/avatar'));
    const infix = compileGlob('edge-*');
    assert.ok(infix('edge-eu'));
    assert.ok(!infix('edge-eu/1'));
    assert.ok(compileGlob('*')('anything-without-slash'));
    assert.ok(!compileGlob('*')('a/b'));
    assert.ok(compileGlob('*')(''));
  });

  it('** matches anything, including /', () => {
    const g = compileGlob('/profiles/**');
    assert.ok(g('/profiles/42'));
    assert.ok(g('/profiles/42/avatar/big'));
    assert.ok(!g('/profile/42'));
    assert.ok(compileGlob('**')('a/b/c'));
    assert.ok(compileGlob('**')(''));
    const mid = compileGlob('/api/**/items');
    assert.ok(mid('/api/v1/x/items'));
    assert.ok(!mid('/api/v1/x/items/1'));
    const mixed = compileGlob('/a/*/b/**');
    assert.ok(mixed('/a/x/b/c/d'));
    assert.ok(!mixed('/a/x/y/b/c'));
  });

  it('is case-sensitive unless asked, and case-insensitive for methods', () => {
    assert.ok(!compileGlob('GET')('get'));
    assert.ok(compileGlob('GET', true)('get'));
    assert.ok(compileGlob('get', true)('GET'));
    assert.ok(compileGlob('p*', true)('POST'));
    assert.ok(compileGlob('P*', true)('patch'));
    assert.ok(!compileGlob('P*', true)('GET'));
    assert.ok(!compileGlob('P*')('patch'));
  });

  it('caches compiled globs separately for each case mode', () => {
    assert.equal(compileGlob('/cache/*'), compileGlob('/cache/*'));
    assert.notEqual(compileGlob('/cache/*'), compileGlob('/cache/*', true));
    assert.ok(!compileGlob('ABC')('abc'));
    assert.ok(compileGlob('ABC', true)('abc'));
    assert.ok(!compileGlob('ABC')('abc'), 'the case-insensitive entry did not replace the sensitive one');
  });

  it('keeps working after many distinct globs (cache eviction)', () => {
    for (let i = 0; i < 10_050; i++) compileGlob(`/evict/${i}/*`);
    assert.ok(compileGlob('/evict/5/*')('/evict/5/x'));
    assert.ok(!compileGlob('/evict/5/*')('/evict/6/x'));
  });

  it('a glob without * matches exactly its own text and nothing else (property)', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '/', '.', '?', '(', '[', '\\', '$', '^', '+'), maxLength: 10 });
    fc.assert(
      fc.property(text, text, (glob, s) => {
        assert.equal(compileGlob(glob)(s), glob === s);
      }),
      RUNS,
    );
  });

  it('agrees with a reference glob matcher (property)', () => {
    // Reference: backtracking matcher over the glob grammar.
    const ref = (glob: string, s: string): boolean => {
      const tokens: string[] = [];
      for (let i = 0; i < glob.length; ) {
        if (glob.startsWith('**', i)) {
          tokens.push('**');
          i += 2;
        } else tokens.push(glob[i++]!);
      }
      const memo = new Map<string, boolean>();
      const go = (t: number, k: number): boolean => {
        const key = `${t},${k}`;
        const hit = memo.get(key);
        if (hit !== undefined) return hit;
        let r: boolean;
        if (t === tokens.length) r = k === s.length;
        else {
          const tok = tokens[t]!;
          if (tok === '**') {
            r = false;
            for (let j = k; j <= s.length && !r; j++) r = go(t + 1, j);
          } else if (tok === '*') {
            r = false;
            for (let j = k; j <= s.length && !r; j++) {
              r = go(t + 1, j);
              if (s[j] === '/') break;
            }
          } else r = s[k] === tok && go(t + 1, k + 1);
        }
        memo.set(key, r);
        return r;
      };
      return go(0, 0);
    };
    const alpha = fc.constantFrom('a', 'b', '/', '.');
    const globArb = fc.string({ unit: fc.oneof(alpha, fc.constant('*')), maxLength: 8 });
    const strArb = fc.string({ unit: alpha, maxLength: 8 });
    fc.assert(
      fc.property(globArb, strArb, (glob, s) => {
        assert.equal(compileGlob(glob)(s), ref(glob, s), `${glob} vs ${s}`);
      }),
      { numRuns: 500 },
    );
  });
});

describe('compileSelector', () => {
  const p: PointDescriptor = { caller: 'edge', target: 'profiles', method: 'GET', route: '/profiles/:id' };
  const id = pointId(p);

  it('an empty selector matches every point', () => {
    assert.ok(compileSelector({})(p, id));
    assert.ok(compileSelector({})({ caller: '', target: '', method: '', route: '' }, ''));
  });

  it('point compares the id exactly (no globbing)', () => {
    assert.ok(compileSelector({ point: id })(p, id));
    assert.ok(!compileSelector({ point: 'edge->profiles GET /profiles/*' })(p, id));
    assert.ok(!compileSelector({ point: id.toLowerCase() })(p, id));
  });

  it('each part is matched by its own glob', () => {
    assert.ok(compileSelector({ caller: 'edge' })(p, id));
    assert.ok(!compileSelector({ caller: 'api' })(p, id));
    assert.ok(compileSelector({ target: 'prof*' })(p, id));
    assert.ok(!compileSelector({ target: 'ratings' })(p, id));
    assert.ok(compileSelector({ method: 'get' })(p, id));
    assert.ok(!compileSelector({ method: 'POST' })(p, id));
    assert.ok(compileSelector({ route: '/profiles/*' })(p, id));
    assert.ok(!compileSelector({ route: '/profiles' })(p, id));
    assert.ok(!compileSelector({ route: '/PROFILES/*' })(p, id), 'routes are case-sensitive');
  });

  it('all given parts must match', () => {
    assert.ok(compileSelector({ caller: 'edge', target: 'profiles', method: 'GET', route: '/profiles/**' })(p, id));
    assert.ok(!compileSelector({ caller: 'edge', target: 'ratings' })(p, id));
    assert.ok(!compileSelector({ target: 'profiles', method: 'DELETE' })(p, id));
    assert.ok(!compileSelector({ point: id, caller: 'api' })(p, id));
    assert.ok(compileSelector({ point: id, caller: 'e*' })(p, id));
  });

  it('a selector equals the conjunction of its parts (property)', () => {
    const part = (values: string[]) => fc.option(fc.constantFrom(...values), { nil: undefined });
    const selArb = fc.record({
      point: part([id, 'other']),
      caller: part(['edge', 'api', '*', 'e*']),
      target: part(['profiles', '*', 'r*']),
      method: part(['GET', 'get', 'POST', 'P*']),
      route: part(['/profiles/*', '/**', '/profiles']),
    });
    const pointArb = fc.record({
      caller: fc.constantFrom('edge', 'api'),
      target: fc.constantFrom('profiles', 'ratings'),
      method: fc.constantFrom('GET', 'POST', 'PUT'),
      route: fc.constantFrom('/profiles/:id', '/profiles', '/a/b'),
    });
    fc.assert(
      fc.property(selArb, pointArb, (sel, pt) => {
        const clean = Object.fromEntries(Object.entries(sel).filter(([, v]) => v !== undefined));
        const pid = pointId(pt);
        const expected =
          (sel.point === undefined || sel.point === pid) &&
          (sel.caller === undefined || compileGlob(sel.caller)(pt.caller)) &&
          (sel.target === undefined || compileGlob(sel.target)(pt.target)) &&
          (sel.method === undefined || compileGlob(sel.method, true)(pt.method)) &&
          (sel.route === undefined || compileGlob(sel.route)(pt.route));
        assert.equal(compileSelector(clean)(pt, pid), expected);
      }),
      RUNS,
    );
  });
});
