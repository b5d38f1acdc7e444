// ioredis against a ballotd cluster, through the library's own API: string and keyspace
// commands, expiry, multi().exec() applied whole, WATCH aborting exec (null), and a client
// configured with db: 2, which must fail rather than write to database 0.
// Usage: node ioredis_commands.js PORT_A PORT_B. Prints "ok" and a summary, or throws.
'use strict';
const assert = require('assert');
const Redis = require('ioredis');

const opts = (port) => ({host: '127.0.0.1', port, maxRetriesPerRequest: 0, lazyConnect: true,
                         retryStrategy: () => null});

async function strings(r) {
  assert.strictEqual(await r.set('s', 'v'), 'OK');
  assert.strictEqual(await r.set('s', 'w', 'NX'), null);
  assert.strictEqual(await r.set('lock', 'me', 'PX', 30000, 'NX'), 'OK');
  assert.ok((await r.pttl('lock')) > 29000);
  assert.strictEqual(await r.set('s', 'x', 'XX', 'GET'), 'v');
  assert.strictEqual(await r.setnx('nx', '1'), 1);
  assert.strictEqual(await r.setex('sx', 100, 'v'), 'OK');
  assert.strictEqual(await r.ttl('sx'), 100);
  assert.strictEqual(await r.psetex('px', 100000, 'v'), 'OK');
  assert.strictEqual(await r.getset('s', 'y'), 'x');
  assert.strictEqual(await r.getdel('s'), 'y');
  assert.strictEqual(await r.getex('sx', 'PERSIST'), 'v');
  assert.strictEqual(await r.ttl('sx'), -1);
  assert.strictEqual(await r.expire('sx', 50), 1);
  assert.strictEqual(await r.pexpire('sx', 40000), 1);
  assert.ok((await r.pttl('sx')) > 39000);
  assert.strictEqual(await r.expireat('sx', Math.floor(Date.now() / 1000) + 500), 1);
  assert.ok((await r.ttl('sx')) > 490);
  assert.strictEqual(await r.persist('sx'), 1);
  assert.strictEqual(await r.incr('n'), 1);
  assert.strictEqual(await r.incrby('n', 9), 10);
  assert.strictEqual(await r.decr('n'), 9);
  assert.strictEqual(await r.decrby('n', 4), 5);
  assert.strictEqual(await r.incrbyfloat('f', '2.5'), '2.5');
  assert.strictEqual(await r.mset('a', '1', 'b', '2'), 'OK');
  assert.deepStrictEqual(await r.mget('a', 'nosuch', 'b'), ['1', null, '2']);
  assert.strictEqual(await r.msetnx('a', '3', 'c', '4'), 0);
  assert.strictEqual(await r.append('a', 'bc'), 3);
  assert.strictEqual(await r.strlen('a'), 3);
  assert.strictEqual(await r.getrange('a', 1, 2), 'bc');
  assert.strictEqual(await r.setrange('a', 0, 'X'), 3);
  assert.strictEqual(await r.type('a'), 'string');
  assert.strictEqual(await r.rename('a', 'a2'), 'OK');
  assert.strictEqual(await r.renamenx('a2', 'b'), 0);
  assert.strictEqual(await r.copy('a2', 'a3'), 1);
  assert.strictEqual(await r.exists('a2', 'a3', 'nosuch'), 2);
  assert.strictEqual(await r.touch('a2'), 1);
  assert.strictEqual(await r.unlink('a3'), 1);
  assert.strictEqual(await r.del('a2', 'nosuch'), 1);
  assert.deepStrictEqual((await r.keys('b')).sort(), ['b']);
  for (let i = 0; i < 200; i++) await r.set(`scan:${i}`, i);
  const seen = new Set();
  await new Promise((resolve, reject) => {
    const s = r.scanStream({match: 'scan:*', count: 30});
    s.on('data', (keys) => keys.forEach((k) => seen.add(k)));
    s.on('end', resolve);
    s.on('error', reject);
  });
  assert.strictEqual(seen.size, 200);
  assert.ok((await r.randomkey()) !== null);
  assert.strictEqual(await r.dbsize(), (await r.keys('*')).length);
  assert.ok((await r.command('COUNT')) > 60);
}

async function transactions(r, other) {
  await r.set('t:a', 100);
  await r.set('t:b', 0);
  const res = await r.multi().decrby('t:a', 30).incrby('t:b', 30).get('t:a').exec();
  assert.deepStrictEqual(res, [[null, 70], [null, 30], [null, '70']]);
  // A queued command with an error: the rest still runs, each result reported.
  const mixed = await r.multi().set('t:c', 'x').incr('t:c').exec();
  assert.strictEqual(mixed[0][1], 'OK');
  assert.ok(mixed[1][0] instanceof Error);
  // DISCARD leaves nothing behind.
  const m = r.multi();
  m.set('t:gone', '1');
  await m.discard();
  assert.strictEqual(await r.get('t:gone'), null);
  // WATCH: a write from another client aborts exec (null).
  await r.watch('t:a');
  await other.set('t:a', 1);
  assert.strictEqual(await r.multi().set('t:a', 999).exec(), null);
  assert.strictEqual(await r.get('t:a'), '1');
  await r.watch('t:a');
  assert.deepStrictEqual(await r.multi().set('t:a', 2).exec(), [[null, 'OK']]);
}

async function wrongDb(port) {
  const r = new Redis({...opts(port), db: 2});
  const errors = [];
  r.on('error', (e) => errors.push(e.message));
  const result = await r.connect().then(() => r.set('dbkey', 'v'))
                     .then(() => 'written', (e) => e.message);
  r.disconnect();
  assert.notStrictEqual(result, 'written', 'a db 2 client wrote to database 0');
  return result;
}

async function main() {
  const [portA, portB] = process.argv.slice(2).map(Number);
  const r = new Redis(opts(portA));
  const other = new Redis(opts(portB));
  await r.connect();
  await other.connect();
  await r.flushdb();
  await strings(r);
  await transactions(r, other);
  const dbError = await wrongDb(portA);
  assert.strictEqual(await other.get('dbkey'), null);
  r.disconnect();
  other.disconnect();
  process.stdout.write(`ok: db 2 refused with "${dbError}"\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
