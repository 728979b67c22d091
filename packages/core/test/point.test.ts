import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RouteTemplate, isIdSegment, parsePointId, pointId, routeFor, templatePath, type PointDescriptor } from '../src/index.js';
import { RUNS } from './helpers.js';

describe('pointId / parsePointId', () => {
  it('formats HTTP and generic points', () => {
    assert.equal(pointId({ caller: 'edge', target: 'profiles', method: 'GET', route: '/profiles/:id' }), 'edge->profiles GET /profiles/:id');
    assert.equal(pointId({ caller: 'edge', target: 'evcache', method: 'get', route: '' }), 'edge->evcache get');
  });

  it('parses them back', () => {
    assert.deepEqual(parsePointId('edge->profiles GET /profiles/:id'), { caller: 'edge', target: 'profiles', method: 'GET', route: '/profiles/:id' });
    assert.deepEqual(parsePointId('edge->evcache get'), { caller: 'edge', target: 'evcache', method: 'get', route: '' });
  });

  it('handles dashes next to the arrow and routes with spaces', () => {
    assert.deepEqual(parsePointId('api-gw->user-svc POST /a b'), { caller: 'api-gw', target: 'user-svc', method: 'POST', route: '/a b' });
    assert.deepEqual(parsePointId('a-->b GET /'), { caller: 'a-', target: 'b', method: 'GET', route: '/' });
  });

  it('returns undefined for things that are not point ids', () => {
    for (const bad of ['', 'edge', 'edge->profiles', 'edge->profiles ', '->profiles GET /', 'edge-> GET /', 'edge profiles GET /', 'ed ge->p GET /', 'edge->profiles  GET']) {
      assert.equal(parsePointId(bad), undefined, JSON.stringify(bad));
    }
  });

  it('round-trips any descriptor made of realistic parts (property)', () => {
    const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/);
    const method = fc.oneof(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9._]{0,12}$/));
    const route = fc.oneof(fc.constant(''), fc.stringMatching(/^\/[!-~]{0,30}( [!-~]{1,5})?$/));
    fc.assert(
      fc.property(name, name, method, route, (caller, target, m, r) => {
        const p: PointDescriptor = { caller, target, method: m, route: r };
        assert.deepEqual(parsePointId(pointId(p)), p);
      }),
      RUNS,
    );
  });
});

describe('isIdSegment', () => {
  it('recognises instance ids', () => {
    for (const id of [
      '42',
      '0',
      '123e4567-e89b-12d3-a456-426614174000',
      '123E4567-E89B-12D3-A456-426614174000',
      'deadbeef42',
      '5f3c9a1b',
      '507f1f77bcf86cd799439011',
      '01ARZ3NDEKTSV4RRFFQ69G5FAV',
      'aZ3kP9qW2xY7mN4b',
      'tok_1a2b3c4d5e6f7g8h',
      'alice@example.com',
      'alice%40example.com',
      '%E0%A4%A',
    ]) {
      assert.equal(isIdSegment(id), true, id);
    }
  });

  it('keeps plain route words, including versions and short alphanumerics', () => {
    for (const word of ['home', 'titles', 'users', 'v1', 'v2', 'v10', 'api', 'oauth2', 's3', 'ec2', 'h264', 'e2e', 'sha256', 'utf-8', 'base64', '2fa', 'deadbeef', 'facade', 'profiles', 'ratings', 'me', 'search', 'user-settings', 'my%20folder']) {
      assert.equal(isIdSegment(word), false, word);
    }
  });
});

describe('templatePath', () => {
  it('replaces id-like segments with :id', () => {
    const cases: [string, string][] = [
      ['/users/42', '/users/:id'],
      ['/users/42/orders/7', '/users/:id/orders/:id'],
      ['/items/123e4567-e89b-12d3-a456-426614174000', '/items/:id'],
      ['/objects/507f1f77bcf86cd799439011/meta', '/objects/:id/meta'],
      ['/events/01ARZ3NDEKTSV4RRFFQ69G5FAV', '/events/:id'],
      ['/sessions/aZ3kP9qW2xY7mN4bQ1', '/sessions/:id'],
      ['/users/alice@example.com/avatar', '/users/:id/avatar'],
      ['/users/alice%40example.com', '/users/:id'],
    ];
    for (const [path, want] of cases) assert.equal(templatePath(path), want, path);
  });

  it('keeps plain words, versions and common alphanumeric names', () => {
    for (const path of ['/home', '/titles', '/v1', '/api/v2/users', '/oauth2/token', '/s3/buckets', '/v1/users/me', '/ec2/instances', '/health', '/']) {
      assert.equal(templatePath(path), path, path);
    }
    assert.equal(templatePath('/v1/users/42'), '/v1/users/:id');
    assert.equal(templatePath('/api/v2/users/42'), '/api/v2/users/:id');
  });

  it('drops the query and the fragment', () => {
    assert.equal(templatePath('/a/42?x=1&y=2'), '/a/:id');
    assert.equal(templatePath('/a/b#frag'), '/a/b');
    assert.equal(templatePath('/a/b?x=1#frag'), '/a/b');
    assert.equal(templatePath('/search?q=12345'), '/search');
    assert.equal(templatePath('?x=1'), '/');
    assert.equal(templatePath('#top'), '/');
  });

  it('normalises the empty path, a missing leading slash and a trailing slash', () => {
    assert.equal(templatePath(''), '/');
    assert.equal(templatePath('/'), '/');
    assert.equal(templatePath('users/42'), '/users/:id');
    assert.equal(templatePath('/users/'), '/users');
    assert.equal(templatePath('/users/42/'), '/users/:id');
  });

  it('keeps empty segments other than one trailing slash', () => {
    assert.equal(templatePath('/a//42'), '/a//:id');
    assert.equal(templatePath('/a/42//'), '/a/:id/', 'only one trailing slash is removed');
  });

  it('is idempotent, has no query, and never contains a digits-only segment (property)', () => {
    const segment = fc.oneof(
      fc.stringMatching(/^[a-z]{1,10}$/),
      fc.nat().map(String),
      fc.uuid(),
      fc.stringMatching(/^[0-9a-f]{24}$/),
      fc.stringMatching(/^[A-Za-z0-9]{16,24}$/),
      fc.constantFrom('v1', 'v2', 'oauth2', 's3', 'me'),
    );
    const pathArb = fc.tuple(fc.array(segment, { maxLength: 6 }), fc.constantFrom('', '?a=1', '#f', '?q=42#x')).map(([segs, tail]) => `/${segs.join('/')}${tail}`);
    fc.assert(
      fc.property(pathArb, (path) => {
        const t = templatePath(path);
        assert.ok(t.startsWith('/'));
        assert.ok(!/[?#]/.test(t));
        assert.equal(templatePath(t), t);
        for (const seg of t.split('/')) assert.ok(!/^\d+$/.test(seg), `${seg} in ${t}`);
        assert.equal(t.split('/').length <= path.split('/').length, true);
      }),
      RUNS,
    );
  });

  it('maps the same route with different ids to the same template (property)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.uuid(), fc.nat(), fc.uuid(), (a, b, c, d) => {
        assert.equal(templatePath(`/users/${a}/docs/${b}`), templatePath(`/users/${c}/docs/${d}`));
      }),
      RUNS,
    );
  });
});

describe('RouteTemplate', () => {
  it('matches :name as exactly one segment', () => {
    const t = new RouteTemplate('/users/:uid/avatar');
    assert.equal(t.template, '/users/:uid/avatar');
    assert.ok(t.matches('/users/42/avatar'));
    assert.ok(t.matches('/users/alice/avatar/'), 'a trailing slash is allowed');
    assert.ok(t.matches('/users/42/avatar?size=large'), 'the query is ignored');
    assert.ok(t.matches('/users/42/avatar#x'), 'the fragment is ignored');
    assert.ok(!t.matches('/users//avatar'));
    assert.ok(!t.matches('/users/4/2/avatar'));
    assert.ok(!t.matches('/users/42/avatar/big'));
    assert.ok(!t.matches('/users/42'));
    assert.ok(!t.matches('/Users/42/avatar'), 'literal segments are case-sensitive');
  });

  it('matches a trailing * as the rest of the path', () => {
    const t = new RouteTemplate('/files/*');
    assert.ok(t.matches('/files/a'));
    assert.ok(t.matches('/files/a/b/c.txt'));
    assert.ok(t.matches('/files/'));
    assert.ok(!t.matches('/file/a'));
    assert.ok(!t.matches('/filesystem'));
  });

  it('treats * elsewhere and regex characters literally', () => {
    const star = new RouteTemplate('/a/*/b');
    assert.ok(star.matches('/a/*/b'));
    assert.ok(!star.matches('/a/x/b'));
    const dots = new RouteTemplate('/v1.0/(x)/a+b');
    assert.ok(dots.matches('/v1.0/(x)/a+b'));
    assert.ok(!dots.matches('/v1x0/(x)/a+b'));
    assert.ok(!dots.matches('/v1.0/x/aab'));
  });

  it('matches exactly the paths that fill its parameters (property)', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/);
    fc.assert(
      fc.property(word, word, (uid, other) => {
        const t = new RouteTemplate('/users/:uid/posts/:pid');
        assert.ok(t.matches(`/users/${uid}/posts/${other}`));
        assert.ok(!t.matches(`/users/${uid}/posts`));
        assert.ok(!t.matches(`/users/${uid}/${other}/posts/x`));
      }),
      RUNS,
    );
  });
});

describe('routeFor', () => {
  const declared = [new RouteTemplate('/users/:uid/avatar'), new RouteTemplate('/users/:name'), new RouteTemplate('/files/*')];

  it('prefers the first declared template that matches', () => {
    assert.equal(routeFor('/users/42/avatar', declared), '/users/:uid/avatar');
    assert.equal(routeFor('/users/alice', declared), '/users/:name', 'a declared template wins even where templatePath would keep the word');
    assert.equal(routeFor('/files/a/b', declared), '/files/*');
    assert.equal(routeFor('/users/42?x=1', [new RouteTemplate('/users/:b'), new RouteTemplate('/users/:a')]), '/users/:b');
  });

  it('falls back to templatePath', () => {
    assert.equal(routeFor('/orders/42?x=1', declared), '/orders/:id');
    assert.equal(routeFor('/orders/42', undefined), '/orders/:id');
    assert.equal(routeFor('/orders/42', []), '/orders/:id');
  });
});
