// ioredis Cluster against ballotd --cluster-enabled yes: a write loop of sequential SETs
// that retries a failed key until it is acknowledged. Prints "ready" once writes flow, then,
// after DURATION_MS, one JSON line: every acknowledged key with the times it was sent and
// acknowledged (ms since the epoch) and the errors seen. test_cluster.py kills the leader meanwhile.
// Usage: NODE_PATH=tests/security/clients/node_modules node cluster_ioredis.js PORT DURATION_MS
'use strict';
const {Cluster} = require('ioredis');

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main() {
  const port = Number(process.argv[2]);
  const duration = Number(process.argv[3]);
  const cluster = new Cluster([{host: '127.0.0.1', port}], {
    retryDelayOnFailover: 50,
    retryDelayOnClusterDown: 50,
    retryDelayOnTryAgain: 50,
    slotsRefreshTimeout: 500,
    clusterRetryStrategy: () => 50,
    // A command in flight to a node that dies is failed after commandTimeout (then retried
    // here) rather than waiting for that node to come back.
    redisOptions: {connectTimeout: 500, commandTimeout: 500, maxRetriesPerRequest: 1},
  });
  cluster.on('error', () => {}); // failed connections while a node is down: retried below
  const acked = [];
  let errors = 0;
  const lastErrors = [];
  let i = 0;
  let ready = false;
  const end = Date.now() + duration;
  while (Date.now() < end) {
    const key = 'js-' + i;
    const sent = Date.now();
    try {
      const r = await cluster.set(key, String(i));
      if (r !== 'OK') {
        throw new Error('SET answered ' + r);
      }
      acked.push([key, sent, Date.now()]);
      i++;
      if (!ready && acked.length >= 50) {
        ready = true;
        process.stdout.write('ready\n');
      }
    } catch (e) {
      errors++;
      if (lastErrors.length < 10) {
        lastErrors.push(String(e.message));
      }
      await sleep(20);
    }
  }
  cluster.disconnect();
  process.stdout.write(JSON.stringify({acked, errors, lastErrors}) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e.stack) + '\n');
  process.exit(1);
});
