// npm run bench:jobs — job mode's figures, on real processes (test/fixtures/pool-member.mjs on
// the built package) and a redis-server of its own (Debian's, on a free port):
//  1. the longest event-loop stall of the API process while a 200,000-output job result is
//     recorded (from the 202 to the job's end: the method, the serializing, the store's write)
//     and while it is read back by GET /jobs/:id, in each store: memory, SQLite, Redis (target
//     ≤ 50 ms);
//  2. the time from the SIGKILL of the API process that accepted a job to the job's end, served
//     by the other one, against the same job's time without the kill, for two lockDurationMs;
//  3. job-mode throughput through one and through two API processes (4 workers);
//  4. a result longer than V8's longest string (2^29 − 24 characters), recorded by the memory
//     store (jobResultBytes raised) and served, checked against the synchronous answer by hash.
// Figures, not a pass/fail. Writes bench/jobs-results.json. `--quick`: fewer repeats, no row 4.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const quick = process.argv.includes('--quick');
// `--rows=3,4`: only those rows.
const rows = new Set((process.argv.find((arg) => arg.startsWith('--rows='))?.slice(7) ?? '1,2,3,4').split(',').map(Number));
const REPEATS = quick ? 1 : 3;
const member = new URL('../test/fixtures/pool-member.mjs', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'alectio-bench-jobs-'));
const range = (n, from = 0) => Array.from({ length: n }, (_, i) => from + i);

const freePort = () =>
  new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });

const children = new Set();
process.on('exit', () => {
  children.forEach((child) => child.kill('SIGKILL'));
  rmSync(dir, { recursive: true, force: true });
});

/** A child process, ready once its output matches `ready`; with an IPC channel for the stall figures. */
function run(args, env, ready, nodeArgs = []) {
  const child = spawn(args[0], [...nodeArgs, ...args.slice(1)], {
    env: { ...process.env, POOL_QUIET: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...(args[0] === process.execPath ? ['ipc'] : [])],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  return new Promise((resolve, reject) => {
    const read = (chunk) => {
      output = (output + chunk).slice(-20_000);
      if (ready.test(output)) resolve(child);
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}:\n${output}`)));
  });
}

async function startRedis() {
  const port = await freePort();
  await run(
    ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {},
    /Ready to accept/,
  );
  return `redis://127.0.0.1:${port}`;
}

let queues = 0;
/** An API process (`alone`: no Redis) and its workers, on a queue of their own. */
async function startMembers({ apis = 1, workers = 0, env = {}, nodeArgs = [] }) {
  const shared = { ALECTIO_QUEUE: `bench${++queues}`, ...env };
  const api = async () => {
    const port = await freePort();
    const child = await run(
      [process.execPath, member],
      { ...shared, PORT: String(port), ALECTIO_ROLE: 'api' },
      /pool member ready/,
      nodeArgs,
    );
    return { child, url: `http://127.0.0.1:${port}` };
  };
  const started = await Promise.all([
    ...Array.from({ length: apis }, api),
    ...Array.from({ length: workers }, () =>
      run([process.execPath, member], { ...shared, ALECTIO_ROLE: 'worker' }, /worker of the queue/),
    ),
  ]);
  const processes = started.map((one) => one.child ?? one);
  const stopped = (child) => child.exitCode !== null || child.signalCode !== null;
  return {
    apis: started.slice(0, apis),
    stop: () =>
      Promise.all(
        processes.map((child) =>
          stopped(child) ? undefined : new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGKILL'))),
        ),
      ),
  };
}

/** The child's longest event-loop stall since the last reset. */
function stats(child) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send('stats');
  });
}

async function post(url, path, body, headers = {}) {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function jobEnded(url, id) {
  for (;;) {
    const response = await fetch(`${url}/jobs?limit=100`);
    const { jobs } = await response.json();
    const job = jobs.find((j) => j.id === id);
    if (job && ['succeeded', 'failed', 'cancelled'].includes(job.state)) return job;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const results = { machine: { cpus: cpus().length, loadavg: loadavg() }, stalls: [], takeover: [], throughput: [], huge: null };
const redisUrl = await startRedis();

// 1. Stalls while a 200,000-output result is recorded and read back.
if (rows.has(1)) {
  console.log('\n## The longest event-loop stall of the API process, a 200,000-output job result (ms)\n');
  console.log(
    `| store | while recorded (max of ${REPEATS}) | while read back (max of ${REPEATS}) | result size | read back in |`,
  );
  console.log('| --- | ---: | ---: | ---: | ---: |');
  const body200k = { unlabeled: range(200_000), ckpt_file: 'c' };
  for (const store of ['memory', 'SQLite', 'Redis']) {
    const env =
      store === 'memory'
        ? {}
        : store === 'SQLite'
          ? { ALECTIO_JOBS_DB: join(dir, `jobs-${queues}.sqlite`) }
          : { ALECTIO_REDIS_URL: redisUrl, ALECTIO_INFER_CHUNK: '10000' };
    const pool = await startMembers({ workers: store === 'Redis' ? 2 : 0, env });
    const [{ child, url }] = pool.apis;
    const recorded = [];
    const read = [];
    let bytes = 0;
    let readMs = 0;
    await jobEnded(
      url,
      (await post(url, '/infer', { unlabeled: range(1000), ckpt_file: 'c' }, { prefer: 'respond-async' })).body.job_id,
    );
    for (let i = 0; i < REPEATS; i++) {
      const accepted = await post(url, '/infer', body200k, { prefer: 'respond-async' });
      child.send('reset');
      await jobEnded(url, accepted.body.job_id);
      recorded.push((await stats(child)).maxStallMs);
      child.send('reset');
      const started = performance.now();
      const response = await fetch(`${url}/jobs/${accepted.body.job_id}`);
      bytes = 0;
      for await (const chunk of response.body) bytes += chunk.length;
      readMs = performance.now() - started;
      read.push((await stats(child)).maxStallMs);
    }
    results.stalls.push({ store, recorded, read, bytes, readMs });
    console.log(
      `| ${store} | ${Math.max(...recorded).toFixed(1)} | ${Math.max(...read).toFixed(1)} | ${(bytes / 1e6).toFixed(1)} MB | ${readMs.toFixed(0)} ms |`,
    );
    await pool.stop();
  }
}

// 2. Death of the accepting API process → the job's end, served by the other.
if (rows.has(2)) {
  console.log('\n## From the SIGKILL of the accepting API process to the job served by the other\n');
  console.log('| lockDurationMs | the job without a kill (s) | kill → job ended, read through the other (s) |');
  console.log('| ---: | ---: | ---: |');
  const jobBody = { unlabeled: range(20_000), ckpt_file: 'c' };
  for (const lock of [5_000, 30_000]) {
    const pool = await startMembers({
      apis: 2,
      workers: 2,
      env: {
        ALECTIO_REDIS_URL: redisUrl,
        ALECTIO_LOCK_MS: String(lock),
        ALECTIO_INFER_CHUNK: '1000',
        POOL_MICROS_PER_INDEX: '100',
      },
    });
    const [a, b] = pool.apis;
    let started = performance.now();
    await jobEnded(b.url, (await post(b.url, '/infer', jobBody, { prefer: 'respond-async' })).body.job_id);
    const alone = (performance.now() - started) / 1000;
    const accepted = await post(a.url, '/infer', jobBody, { prefer: 'respond-async' });
    a.child.kill('SIGKILL');
    started = performance.now();
    const job = await jobEnded(b.url, accepted.body.job_id);
    const afterKill = (performance.now() - started) / 1000;
    results.takeover.push({ lockDurationMs: lock, alone, afterKill, state: job.state });
    console.log(`| ${lock.toLocaleString('en')} | ${alone.toFixed(2)} | ${afterKill.toFixed(2)} (${job.state}) |`);
    await pool.stop();
  }
}

// 3. Throughput: small infer jobs (one chunk each), their ends counted by a callback receiver.
if (rows.has(3)) {
  console.log('\n## Job-mode throughput: jobs of 100 indices, 4 workers, ends counted by the callback\n');
  console.log('| API processes | jobs | in flight | jobs/s |');
  console.log('| ---: | ---: | ---: | ---: |');
  const JOBS = quick ? 200 : 600;
  const ends = new Map();
  const receiver = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      ends.get('listener')?.(String(req.headers['x-alectio-job-id']));
      res.writeHead(200).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const callbackEnv = {
    ALECTIO_CALLBACK_URL: `http://127.0.0.1:${receiver.address().port}/done`,
    ALECTIO_CALLBACK_SECRET: 'a-benchmark-callback-secret',
  };
  for (const apis of [1, 2]) {
    const pool = await startMembers({ apis, workers: 4, env: { ALECTIO_REDIS_URL: redisUrl, ...callbackEnv } });
    const urls = pool.apis.map((api) => api.url);
    const window = 24 * apis;
    let submitted = 0;
    let done = 0;
    const started = performance.now();
    await new Promise((resolve, reject) => {
      // A 503 (a process with 32 jobs in progress: the ends come unevenly) is tried again on the
      // next process, as a platform would.
      const send = (n, attempt = 0) =>
        post(
          urls[(n + attempt) % urls.length],
          '/infer',
          { unlabeled: range(100, n), ckpt_file: 'c' },
          { prefer: 'respond-async' },
        ).then((answer) => {
          if (answer.status === 503 && attempt < 100) return void setTimeout(() => send(n, attempt + 1), 5);
          if (answer.status !== 202) reject(new Error(`submit answered ${answer.status}: ${JSON.stringify(answer.body)}`));
        }, reject);
      const submit = () => {
        if (submitted < JOBS) void send(submitted++);
      };
      ends.set('listener', () => {
        if (++done === JOBS) resolve();
        submit();
      });
      for (let i = 0; i < window; i++) submit();
    });
    const rate = JOBS / ((performance.now() - started) / 1000);
    results.throughput.push({ apis, jobs: JOBS, window, jobsPerSecond: rate });
    console.log(`| ${apis} | ${JOBS} | ${window} | ${rate.toFixed(0)} |`);
    await pool.stop();
  }
  receiver.close();
}

// 4. A result past V8's longest string, in the memory store.
if (!quick && rows.has(4)) {
  console.log("\n## A result longer than V8's longest string, recorded and served (memory store)\n");
  const WIDTH = 1000;
  const COUNT = 30_000;
  const pool = await startMembers({
    env: { POOL_OUTPUT_WIDTH: String(WIDTH), POOL_RESULT_BYTES: String(2 ** 31) },
    nodeArgs: ['--max-old-space-size=12000'],
  });
  const [{ url }] = pool.apis;
  const body = { unlabeled: range(COUNT), ckpt_file: 'c' };
  const hashOf = async (response, cut) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let head = Buffer.alloc(0);
    let tail = Buffer.alloc(0);
    let started = false;
    for await (const chunk of response.body) {
      bytes += chunk.length;
      let data = Buffer.from(chunk);
      if (!started) {
        head = Buffer.concat([head, data]);
        const at = head.indexOf(cut.open);
        if (at < 0) continue;
        started = true;
        data = head.subarray(at + cut.open.length);
        hash.update(cut.replace);
      }
      // The last bytes are held back: the wrapper's closing braces are not the result's.
      const joined = Buffer.concat([tail, data]);
      tail = joined.subarray(Math.max(0, joined.length - cut.close));
      hash.update(joined.subarray(0, joined.length - tail.length));
    }
    return { bytes, hash: hash.digest('hex') };
  };
  let started = performance.now();
  const sync = await fetch(`${url}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const syncHash = await hashOf(sync, { open: '{"status":200,', replace: '{', close: 0 });
  const syncMs = performance.now() - started;
  started = performance.now();
  const accepted = await post(url, '/infer', body, { prefer: 'respond-async' });
  const job = await jobEnded(url, accepted.body.job_id);
  const recordMs = performance.now() - started;
  started = performance.now();
  const served = await hashOf(await fetch(`${url}/jobs/${accepted.body.job_id}`), { open: '"result":', replace: '', close: 2 });
  const serveMs = performance.now() - started;
  const longest = 2 ** 29 - 24;
  results.huge = {
    chars: syncHash.bytes,
    longestString: longest,
    state: job.state,
    same: served.hash === syncHash.hash,
    syncMs,
    recordMs,
    serveMs,
  };
  console.log(
    '| answer | bytes | V8 longest string | job | same bytes as the synchronous answer (SHA-256) | answered in | recorded in | served in |',
  );
  console.log('| --- | ---: | ---: | --- | --- | ---: | ---: | ---: |');
  console.log(
    `| ${COUNT.toLocaleString('en')} outputs of ${WIDTH} numbers | ${syncHash.bytes.toLocaleString('en')} | ${longest.toLocaleString('en')} | ${job.state} | ${served.hash === syncHash.hash ? 'yes' : 'NO'} | ${(syncMs / 1000).toFixed(1)} s | ${(recordMs / 1000).toFixed(1)} s | ${(serveMs / 1000).toFixed(1)} s |`,
  );
  await pool.stop();
}

// The rows not run this time keep their last figures.
const file = new URL('./jobs-results.json', import.meta.url);
const earlier = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
const kept = Object.fromEntries(
  Object.entries({ 1: 'stalls', 2: 'takeover', 3: 'throughput', 4: 'huge' })
    .filter(([row]) => !rows.has(Number(row)) || (row === '4' && quick))
    .map(([, key]) => [key, earlier[key] ?? results[key]]),
);
writeFileSync(file, `${JSON.stringify({ ...results, ...kept }, null, 2)}\n`);
console.log(
  `\nmachine: ${cpus().length} cores, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
process.exit(0);
