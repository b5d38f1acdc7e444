// ioredis against ballotd with a users file: AUTH with username/password, NOPERM errors,
// WRONGPASS. Prints what it saw as JSON for test_acl.py. Usage: node acl_ioredis.js PORT PW
'use strict';
const Redis = require('ioredis');

async function main() {
  const port = Number(process.argv[2]);
  const password = process.argv[3];
  const out = {};
  const opts = {host: '127.0.0.1', port, username: 'alice', password,
                maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true};
  const r = new Redis(opts);
  await r.connect();
  out.set = await r.set('app:js', 'v');
  out.get = await r.get('app:js');
  out.nokey = await r.set('outside', 'v').then(() => 'passed', (e) => e.message);
  out.nocmd = await r.config('GET', 'save').then(() => 'passed', (e) => e.message);
  r.disconnect();
  // ioredis reports a refused AUTH through its 'error' event.
  const bad = new Redis({...opts, password: 'wrong'});
  const seen = [];
  bad.on('error', (e) => seen.push(e.message));
  const result = await bad.connect().then(() => bad.ping()).then(() => 'passed',
                                                                 (e) => e.message);
  out.wrongpass = seen.concat([result]).join(' | ');
  bad.disconnect();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
