// npm run bench — nestjs-alectio against bare node:http and a plain Nest controller, in one run on
// loopback, on the answers real models give (PROTOCOL.md's shapes): test splits of 1,000 and
// 10,000 samples as plain objects, Maps and arrays, COCO-sized detection outputs, and the small
// and the 1,000,000-index /train with Nest's default logger off and on, and the packed package in
// a fresh app with forRoot() and no options. Prints a table (min / median / max, and the ratio to
// bare Node), the issue's targets, and writes bench/results.json. Needs the built package (the
// npm script runs `nest build` first); `--only=<word>` runs the scenarios whose name has it.
import { execFileSync, fork } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

const quick = process.argv.includes('--quick');
const largest = process.argv.includes('--largest');
const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
const wanted = (scenario) => !only || scenario.includes(only);

/** Every server: [file, environment]. Logs go to /dev/null: written, as in production, not into this table. */
const SERVERS = {
  bare: ['bare.mjs', {}],
  'nest plain': ['nest-plain.mjs', {}],
  'nest plain, logger on': ['nest-plain.mjs', { BENCH_LOGGER: '1' }],
  library: ['library.mjs', {}],
  'library, logger on': ['library.mjs', { BENCH_LOGGER: '1' }],
  'library, JSON logger': ['library.mjs', { BENCH_LOGGER: 'json' }],
  "library, logger ['error', 'warn']": ['library.mjs', { BENCH_LOGGER: 'warn' }],
  'library, metrics on': ['library.mjs', { BENCH_METRICS: '1' }],
  'library, traced': ['library.mjs', { BENCH_TRACE: '1' }],
  'library, tracing off': ['library.mjs', { BENCH_TRACE: 'off' }],
  // The customer's view: the packed package in an app folder of its own, forRoot() with no
  // options, Nest's default logger (library.mjs with BENCH_LOGGER=1 is exactly that app).
  'customer app': ['customer app', { BENCH_LOGGER: '1' }],
};
const LOAD_SECONDS = quick ? 2 : 4;
const LOAD_ROUNDS = quick ? 2 : 5;
const BIG_REPEATS = quick ? 3 : 7;
const range = (n, from = 0) => Array.from({ length: n }, (_, i) => from + i);

const freePort = () =>
  new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });

/**
 * The customer's app: the package as `npm pack` makes it, unpacked into the node_modules of an
 * app folder of its own, beside a copy of the server and the model. Its peers (Nest...) resolve
 * from the project's node_modules, two folders up.
 */
function customerApp() {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const app = fileURLToPath(new URL('./.customer-app/', import.meta.url));
  const packs = mkdtempSync(join(tmpdir(), 'alectio-pack-'));
  rmSync(app, { recursive: true, force: true });
  const installed = join(app, 'node_modules', 'nestjs-alectio');
  mkdirSync(installed, { recursive: true });
  const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', packs], { cwd: root })
    .toString()
    .trim()
    .split('\n')
    .at(-1);
  execFileSync('tar', ['-xzf', join(packs, tarball), '-C', installed, '--strip-components=1']);
  rmSync(packs, { recursive: true, force: true });
  for (const file of ['library.mjs', 'model.mjs']) copyFileSync(new URL(`./servers/${file}`, import.meta.url), join(app, file));
  return new URL('./.customer-app/library.mjs', import.meta.url);
}

/** A fresh server process: every peak RSS below is that of one scenario alone. */
async function start(name, extraEnv = {}) {
  const port = await freePort();
  const [file, serverEnv] = SERVERS[name];
  const script = file === 'customer app' ? (customerScript ??= customerApp()) : new URL(`./servers/${file}`, import.meta.url);
  const child = fork(script, {
    env: { ...process.env, ...serverEnv, ...extraEnv, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  child.on('error', () => undefined); // a server that died answers nothing more; see `alive`
  // Resolves undefined if the server dies first (bare Node past V8's string cap does).
  const ask = (message) =>
    new Promise((resolve) => {
      const answered = (answer) => {
        child.off('exit', died);
        resolve(answer);
      };
      const died = () => {
        child.off('message', answered);
        resolve(undefined);
      };
      child.once('message', answered);
      child.once('exit', died);
      child.send(message);
    });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    url: `http://127.0.0.1:${port}`,
    alive,
    reset: () => child.send('reset'),
    stats: () => (alive() ? ask('stats') : Promise.resolve(undefined)),
    stop: () => (alive() ? new Promise((resolve) => (child.once('exit', resolve), child.kill())) : Promise.resolve()),
  };
}
let customerScript;

async function post(url, path, body) {
  const started = performance.now();
  const response = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await response.text();
  const ms = performance.now() - started;
  if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${text.slice(0, 200)}`);
  return { ms, bytes: text.length };
}

const spread = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted.at(-1) };
};

async function latency(server, path, body, repeats) {
  await post(server.url, path, body); // warm-up
  const times = [];
  for (let i = 0; i < repeats; i++) times.push((await post(server.url, path, body)).ms);
  return spread(times);
}

/** Requests per second under load, and the server's CPU time per call meanwhile (warm-up included in both counts). */
async function load(server, path, body) {
  const before = await server.stats();
  const result = await autocannon({
    url: `${server.url}${path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: 32,
    duration: LOAD_SECONDS,
    warmup: { connections: 32, duration: 1 },
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${path}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  const after = await server.stats();
  const logged = after.loggerCalls - before.loggerCalls;
  return {
    perSecond: result.requests.average,
    cpuPerCall: (after.cpuMicros - before.cpuMicros) / (after.calls - before.calls),
    loggerPerCall: logged > 0 ? (after.loggerNanos - before.loggerNanos) / 1000 / logged : undefined,
  };
}

const TRAIN_10 = JSON.stringify({ labeled: range(10), resume_from: null, ckpt_file: 'ckpt_0' });
const testBody = (shape, n) => JSON.stringify({ ckpt_file: `${shape}-${n}` });
const trainBody = (n) => JSON.stringify({ labeled: range(n), resume_from: 'ckpt_0', ckpt_file: 'ckpt_1' });
const inferBody = (n, ckpt = 'ckpt_1') => JSON.stringify({ unlabeled: range(n), ckpt_file: ckpt });

const results = {
  machine: {
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadBefore: loadavg(),
  },
  servers: Object.fromEntries(Object.keys(SERVERS).map((name) => [name, {}])),
};
const record = (name, row, figure) => (results.servers[name][row] = figure);

// Requests per second: every server of a scenario up at once (idle while another is loaded),
// measured in rounds that take them in turn, so that a slow spell of the machine falls on all of
// them alike rather than on whichever ran then. Each figure is the mean req/s of one round's load.
const LOADS = [
  ['POST /train, 10 indices (req/s)', '/train', TRAIN_10, Object.keys(SERVERS)],
  ...['objects', 'maps', 'arrays'].map((shape) => [
    `POST /test, 1,000 as ${shape} (req/s)`,
    '/test',
    testBody(shape, 1000),
    ['bare', 'nest plain', 'library', ...(shape === 'objects' ? ['customer app'] : [])],
  ]),
].filter(([row]) => wanted(row));
if (LOADS.length > 0) {
  const names = [...new Set(LOADS.flatMap(([, , , servers]) => servers))];
  const servers = Object.fromEntries(await Promise.all(names.map(async (name) => [name, await start(name)])));
  const samples = new Map();
  for (let round = 1; round <= LOAD_ROUNDS; round++) {
    process.stderr.write(`load, round ${round} of ${LOAD_ROUNDS}\n`);
    for (const [row, path, body, among] of LOADS) {
      for (const name of among) {
        const { perSecond, cpuPerCall, loggerPerCall } = await load(servers[name], path, body);
        const cpuRow = row.replace('(req/s)', '(server CPU µs per call)');
        const loggerRow = row.replace('(req/s)', '(µs per call inside ConsoleLogger.log)');
        for (const [key, value] of [
          [`${name}\0${row}`, perSecond],
          [`${name}\0${cpuRow}`, cpuPerCall],
          [`${name}\0${loggerRow}`, loggerPerCall],
        ]) {
          if (value !== undefined) samples.set(key, [...(samples.get(key) ?? []), value]);
        }
      }
    }
  }
  for (const [key, values] of samples) {
    const [name, row] = key.split('\0');
    record(name, row, spread(values));
  }
  await Promise.all(Object.values(servers).map((server) => server.stop()));
}

// Latencies: a fresh server per scenario, so that its peak RSS is that scenario's alone.
const LATENCIES = [
  ...['objects', 'maps', 'arrays'].map((shape) => ({
    row: `POST /test, 10,000 as ${shape} (ms)`,
    servers: ['bare', 'nest plain', 'library'],
    run: (server) => latency(server, '/test', testBody(shape, 10_000), BIG_REPEATS),
  })),
  {
    row: 'POST /train, 1,000,000 indices (ms)',
    servers: ['bare', 'nest plain', 'library', 'library, logger on'],
    run: (server) => latency(server, '/train', trainBody(1_000_000), BIG_REPEATS),
    rss: true,
  },
  {
    row: 'POST /infer, 200,000 indices (ms)',
    servers: ['bare', 'nest plain', 'library'],
    run: (server) => latency(server, '/infer', inferBody(200_000), BIG_REPEATS),
    stalls: true,
  },
  {
    row: 'POST /infer, detection, 5,000 images × 20 boxes × 81 classes (ms)',
    servers: ['bare', 'nest plain', 'library'],
    run: (server) => latency(server, '/infer', inferBody(5000, 'detection'), BIG_REPEATS),
    stalls: true,
  },
].filter(({ row }) => wanted(row));
for (const { row, servers, run, rss, stalls } of LATENCIES) {
  for (const name of servers) {
    process.stderr.write(`${name}: ${row}\n`);
    const server = await start(name);
    if (stalls) {
      await post(server.url, '/infer', inferBody(100)); // warm the path; the stalls below are the measured calls'
      server.reset();
    }
    record(name, row, await run(server));
    const stats = await server.stats();
    if (stalls) {
      record(name, `${row}: longest event-loop stall, whole request (ms)`, single(stats.maxStallMs));
      record(name, `${row}: longest event-loop stall while the answer goes out (ms)`, single(stats.answerStallMs));
    }
    if (rss || stalls) record(name, `${row}: peak RSS (MB)`, single(stats.peakRssMb));
    await server.stop();
  }
}

if (wanted('scale')) {
  for (const name of ['bare', 'library']) {
    process.stderr.write(`${name}: scale\n`);
    const server = await start(name);
    for (const n of [10_000, 100_000, 1_000_000]) {
      const { median } = await latency(server, '/train', trainBody(n), quick ? 2 : 5);
      record(name, `scale: /train ${n.toLocaleString('en')} (µs per index)`, single((median * 1000) / n));
    }
    for (const n of [10_000, 100_000, 500_000]) {
      const { median } = await latency(server, '/infer', inferBody(n), quick ? 2 : 3);
      record(name, `scale: /infer ${n.toLocaleString('en')} (µs per index)`, single((median * 1000) / n));
    }
    await server.stop();
  }
}
// The module's per-call log line in Nest's loggers, written to /dev/null as the servers' lines are.
if (wanted('log line')) {
  const child = fork(new URL('./log-line.mjs', import.meta.url), { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  results.logLine = await new Promise((resolve) => child.once('message', resolve));
  child.kill();
}

// The largest answer: full-precision logits (~19 characters each) past V8's ~512 MB string cap.
if (largest) {
  results.largest = {};
  for (const name of ['bare', 'library']) {
    const server = await start(name, { BENCH_FULL_PRECISION: '1' });
    for (const n of [2_600_000, 3_000_000]) {
      process.stderr.write(`${name}: /infer with ${n} full-precision outputs\n`);
      const started = performance.now();
      let outcome;
      try {
        const response = await fetch(`${server.url}/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: inferBody(n),
        });
        let bytes = 0;
        for await (const chunk of response.body) bytes += chunk.length;
        outcome = {
          status: response.status,
          megabytes: Math.round(bytes / 1e6),
          seconds: +((performance.now() - started) / 1000).toFixed(1),
        };
      } catch (error) {
        outcome = { failed: String(error.cause?.code ?? error.message) };
      }
      results.largest[`${name} ${n}`] = { ...outcome, serverAlive: server.alive() };
      if (outcome.failed) break;
    }
    const stats = await server.stats();
    results.largest[`${name} peak RSS (MB)`] = stats ? Math.round(stats.peakRssMb) : 'the server crashed';
    await server.stop();
  }
}
results.machine.loadAfter = loadavg();

function single(value) {
  return { min: value, median: value, max: value };
}

// The table: every figure of every server, and the library's ratio to bare Node and to plain Nest
// (with the same logger setting, for the rows measured with the logger on).
const columns = Object.keys(SERVERS).filter((name) => Object.keys(results.servers[name]).length > 0);
const rows = [...new Set(columns.flatMap((name) => Object.keys(results.servers[name])))];
const format = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const median = (name, row) => results.servers[name]?.[row]?.median;
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '');
const lines = [
  `| figure | ${columns.map((s) => `${s} (min / median / max)`).join(' | ')} | library ÷ bare | library ÷ nest plain | library ÷ nest plain, logger on |`,
  `| --- | ${columns.map(() => '---:').join(' | ')} | ---: | ---: | ---: |`,
];
for (const row of rows) {
  const cells = columns.map((s) => {
    const f = results.servers[s][row];
    if (!f) return '';
    return f.min === f.max ? format(f.median) : `${format(f.min)} / ${format(f.median)} / ${format(f.max)}`;
  });
  const lib = median('library', row);
  lines.push(
    `| ${row} | ${cells.join(' | ')} | ${ratio(lib, median('bare', row))} | ${ratio(lib, median('nest plain', row))} | ${ratio(median('library, logger on', row), median('nest plain, logger on', row))} |`,
  );
}
const table = lines.join('\n');
results.table = table;

// The targets of the issue that asked for this benchmark: [what, measured, met].
const TARGETS = [
  [
    '/test, 1,000 as objects: library ≥ 0.6× bare req/s',
    'POST /test, 1,000 as objects (req/s)',
    'library',
    'bare',
    (r) => r >= 0.6,
  ],
  ...['objects', 'maps', 'arrays'].map((shape) => [
    `/test, 10,000 as ${shape}: library ≤ 1.3× bare latency`,
    `POST /test, 10,000 as ${shape} (ms)`,
    'library',
    'bare',
    (r) => r <= 1.3,
  ]),
  [
    '/infer, detection: library ≤ 1.3× bare latency',
    'POST /infer, detection, 5,000 images × 20 boxes × 81 classes (ms)',
    'library',
    'bare',
    (r) => r <= 1.3,
  ],
  ['/train, 1,000,000: library ≤ 1.2× bare latency', 'POST /train, 1,000,000 indices (ms)', 'library', 'bare', (r) => r <= 1.2],
  [
    '/train, 10, logger off: library ≥ 0.9× nest plain req/s',
    'POST /train, 10 indices (req/s)',
    'library',
    'nest plain',
    (r) => r >= 0.9,
  ],
  [
    '/train, 10, metrics on: library ≥ 0.95× library req/s',
    'POST /train, 10 indices (req/s)',
    'library, metrics on',
    'library',
    (r) => r >= 0.95,
  ],
  [
    '/train, 10, metrics on: server CPU per call ≤ 1.05× library',
    'POST /train, 10 indices (server CPU µs per call)',
    'library, metrics on',
    'library',
    (r) => r <= 1.05,
  ],
  [
    '/train, 10, logger on: library ≥ 0.9× nest plain req/s',
    'POST /train, 10 indices (req/s)',
    'library, logger on',
    'nest plain, logger on',
    (r) => r >= 0.9,
  ],
];
const targetLines = ['| target | measured | met |', '| --- | ---: | :---: |'];
for (const [what, row, a, b, met] of TARGETS) {
  const r = median(a, row) / median(b, row);
  if (Number.isFinite(r)) targetLines.push(`| ${what} | ${r.toFixed(2)}× | ${met(r) ? 'yes' : 'no'} |`);
}
const detectionStall = median(
  'library',
  'POST /infer, detection, 5,000 images × 20 boxes × 81 classes (ms): longest event-loop stall while the answer goes out (ms)',
);
if (detectionStall !== undefined) {
  targetLines.push(
    `| /infer, detection: no stall over 50 ms while the answer goes out | ${detectionStall.toFixed(1)} ms | ${detectionStall <= 50 ? 'yes' : 'no'} |`,
  );
}
results.targets = targetLines.join('\n');
// A run of some rows only (--only) does not replace the whole run's figures.
writeFileSync(
  new URL(only ? './results.partial.json' : './results.json', import.meta.url),
  `${JSON.stringify(results, null, 2)}\n`,
);
const { machine } = results;
console.log(
  `${machine.cpu} × ${machine.cores}, ${machine.memoryGb} GiB, Node ${machine.node}; load average ${machine.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${machine.loadAfter.map((l) => l.toFixed(2)).join(' ')} after\n`,
);
console.log(table);
console.log(`\n${results.targets}`);
if (results.logLine) {
  console.log('\n| one per-call log line | µs |\n| --- | ---: |');
  for (const [logger, micros] of Object.entries(results.logLine)) console.log(`| ${logger} | ${micros.toFixed(1)} |`);
}
if (results.largest) console.log('\nlargest answer:', JSON.stringify(results.largest, null, 2));
