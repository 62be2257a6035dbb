import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import { mask, parseRedisUrl } from '../../src/redis/index.js';

test('every topology has one URL form: single, TLS, Sentinel and Cluster', () => {
  assert.deepEqual(parseRedisUrl('redis://127.0.0.1:6380/2'), {
    topology: 'single',
    tls: false,
    nodes: [{ host: '127.0.0.1', port: 6380 }],
    db: 2,
    display: 'redis://127.0.0.1:6380/2',
  });
  const tls = parseRedisUrl('rediss://user:s3cret@redis.example.com');
  assert.equal(tls.tls, true);
  assert.deepEqual(tls.nodes, [{ host: 'redis.example.com', port: 6379 }]);
  assert.equal(tls.username, 'user');
  assert.equal(tls.password, 's3cret');
  assert.equal(tls.display, 'rediss://user:***@redis.example.com');
  assert.equal(parseRedisUrl('redis://:pw@h:1').password, 'pw');
  assert.equal(parseRedisUrl('redis://pw@h:1').password, 'pw', 'a lone user part is the password (pre-ACL form)');
  const sentinel = parseRedisUrl('redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,[::1]:26380/mymaster/1');
  assert.equal(sentinel.topology, 'sentinel');
  assert.equal(sentinel.masterName, 'mymaster');
  assert.equal(sentinel.db, 1);
  assert.deepEqual(sentinel.nodes, [
    { host: '10.0.0.1', port: 26379 },
    { host: '10.0.0.2', port: 26379 },
    { host: '::1', port: 26380 },
  ]);
  const cluster = parseRedisUrl('rediss+cluster://a:7000,b:7001');
  assert.equal(cluster.topology, 'cluster');
  assert.equal(cluster.tls, true);
  assert.equal(cluster.nodes.length, 2);
});

test('a URL msb cannot use is MSB_REDIS_URL naming the problem, with the password masked', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['localhost:6379', /not of the form scheme:\/\/host:port/],
    ['http://h:1', /unknown scheme "http:\/\/"/],
    ['redis://a:1,b:2', /several hosts need redis\+sentinel/],
    ['redis+sentinel://a:26379,b:26379', /needs the master name/],
    ['redis+sentinel://a,b:26379/m', /host "a" needs a port/],
    ['redis+cluster://a:1,b:2/0', /only database 0/],
    ['redis://h:99999', /port 99999 is out of range/],
    ['redis://h:1/x', /database "x" is not a number/],
    ['redis://h:1?tls=true', /query parameters/],
    ['redis://u:hunter2@h:1/1/2', /path has more than \/db/],
  ];
  for (const [url, why] of cases) {
    assert.throws(
      () => parseRedisUrl(url),
      (err: unknown) => {
        assert.ok(isMsbError(err, 'MSB_REDIS_URL'), url);
        assert.match(err.message, why, url);
        assert.match(err.message, /forms: redis:\/\/host:port/);
        assert.doesNotMatch(err.message, /hunter2/);
        return true;
      },
    );
  }
  assert.equal(mask('redis+sentinel://:pw@a:1,b:2/m'), 'redis+sentinel://:***@a:1,b:2/m');
});
