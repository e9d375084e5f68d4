// npm run bench — nestjs-alectio against bare node:http and a plain Nest controller, in one run on
// loopback. Prints a table (min / median / max, and the ratio to bare Node) and writes
// bench/results.json. Needs the built package (the npm script runs `nest build` first).
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';

import autocannon from 'autocannon';

const quick = process.argv.includes('--quick');
const largest = process.argv.includes('--largest');
const SERVERS = { bare: 'bare.mjs', 'nest plain': 'nest-plain.mjs', library: 'library.mjs' };
/** Extra server variants: [name, file, environment]. */
// The module writes one log line per call by default; the servers run with the logger off, as the
// plain controller logs nothing. This variant shows what the line costs (req/s rows only).
const VARIANTS = { 'library, logging on': ['library.mjs', { BENCH_LOGGER: '1' }] };
const LOAD_SECONDS = quick ? 2 : 5;
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

/** A fresh server process: every peak RSS below is that of one scenario alone. */
async function start(name, extraEnv = {}) {
  const port = await freePort();
  const [file, variantEnv] = VARIANTS[name] ?? [SERVERS[name], {}];
  // A variant's log lines go to /dev/null: written, as in production, but not into this table.
  const stdio = VARIANTS[name] ? ['ignore', 'ignore', 'inherit', 'ipc'] : 'inherit';
  const child = fork(new URL(`./servers/${file}`, import.meta.url), {
    env: { ...process.env, ...variantEnv, ...extraEnv, PORT: String(port) },
    stdio,
  });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  child.on('error', () => undefined); // a server that died answers nothing more; see `alive`
  // Resolves undefined if the server dies first (bare Node past V8's string cap does).
  const ask = (message) =>
    new Promise((resolve) => {
      child.once('message', resolve);
      child.once('exit', () => resolve(undefined));
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

async function load(server, path, body) {
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
  return result.requests.average;
}

const TRAIN_10 = JSON.stringify({ labeled: range(10), resume_from: null, ckpt_file: 'ckpt_0' });
const TEST = JSON.stringify({ ckpt_file: 'ckpt_0' });
const trainBody = (n) => JSON.stringify({ labeled: range(n), resume_from: 'ckpt_0', ckpt_file: 'ckpt_1' });
const inferBody = (n) => JSON.stringify({ unlabeled: range(n), ckpt_file: 'ckpt_1' });

const results = {
  machine: {
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadBefore: loadavg(),
  },
  servers: {},
};

// Requests per second: every server up at once (idle while another is loaded), measured in
// rounds that take them in turn, so that a slow spell of the machine falls on all of them alike
// rather than on whichever ran then. Each figure is the mean req/s of one round's load.
{
  const names = [...Object.keys(SERVERS), ...Object.keys(VARIANTS)];
  const servers = Object.fromEntries(await Promise.all(names.map(async (name) => [name, await start(name)])));
  const samples = Object.fromEntries(names.map((name) => [name, { train: [], test: [] }]));
  for (let round = 1; round <= LOAD_ROUNDS; round++) {
    process.stderr.write(`load, round ${round} of ${LOAD_ROUNDS}\n`);
    for (const name of names) {
      samples[name].train.push(await load(servers[name], '/train', TRAIN_10));
      if (!VARIANTS[name]) samples[name].test.push(await load(servers[name], '/test', TEST));
    }
  }
  for (const name of names) {
    const figures = (results.servers[name] = {});
    figures['POST /train, 10 indices (req/s)'] = spread(samples[name].train);
    if (!VARIANTS[name]) figures['POST /test (req/s)'] = spread(samples[name].test);
    await servers[name].stop();
  }
}

for (const name of Object.keys(SERVERS)) {
  const figures = results.servers[name];
  process.stderr.write(`${name}: /train with 1,000,000 indices\n`);
  let server = await start(name);
  figures['POST /train, 1,000,000 indices (ms)'] = await latency(server, '/train', trainBody(1_000_000), BIG_REPEATS);
  figures['  peak RSS (MB)'] = single((await server.stats()).peakRssMb);
  await server.stop();

  process.stderr.write(`${name}: /infer with 200,000 indices\n`);
  server = await start(name);
  await post(server.url, '/infer', inferBody(1000));
  server.reset();
  figures['POST /infer, 200,000 indices (ms)'] = await latency(server, '/infer', inferBody(200_000), BIG_REPEATS);
  const stats = await server.stats();
  figures['  longest event-loop stall, whole request (ms)'] = single(stats.maxStallMs);
  figures['  longest event-loop stall while the answer goes out (ms)'] = single(stats.answerStallMs);
  figures['  peak RSS (MB) '] = single(stats.peakRssMb);
  await server.stop();

  if (name === 'nest plain') continue;
  process.stderr.write(`${name}: scale\n`);
  server = await start(name);
  for (const n of [10_000, 100_000, 1_000_000]) {
    const { median } = await latency(server, '/train', trainBody(n), quick ? 2 : 5);
    figures[`scale: /train ${n.toLocaleString('en')} (µs per index)`] = single((median * 1000) / n);
  }
  for (const n of [10_000, 100_000, 500_000]) {
    const { median } = await latency(server, '/infer', inferBody(n), quick ? 2 : 3);
    figures[`scale: /infer ${n.toLocaleString('en')} (µs per index)`] = single((median * 1000) / n);
  }
  await server.stop();
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

// The table: every figure of every server, and its ratio to bare Node's median.
const rows = Object.keys(results.servers.bare);
const format = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const columns = [...Object.keys(SERVERS), ...Object.keys(VARIANTS)];
const lines = [
  `| figure | ${columns.map((s) => `${s} (min / median / max)`).join(' | ')} | library ÷ bare | library ÷ nest plain |`,
];
lines.push(`| --- | ${columns.map(() => '---:').join(' | ')} | ---: | ---: |`);
for (const row of rows) {
  const cells = columns.map((s) => {
    const f = results.servers[s][row];
    if (!f) return '';
    return f.min === f.max ? format(f.median) : `${format(f.min)} / ${format(f.median)} / ${format(f.max)}`;
  });
  const lib = results.servers.library[row]?.median;
  const bare = results.servers.bare[row]?.median;
  const nest = results.servers['nest plain'][row]?.median;
  lines.push(
    `| ${row.trim()} | ${cells.join(' | ')} | ${lib && bare ? `${(lib / bare).toFixed(2)}×` : ''} | ${lib && nest ? `${(lib / nest).toFixed(2)}×` : ''} |`,
  );
}
const table = lines.join('\n');
results.table = table;
writeFileSync(new URL('./results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
const { machine } = results;
console.log(
  `${machine.cpu} × ${machine.cores}, ${machine.memoryGb} GiB, Node ${machine.node}; load average ${machine.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${machine.loadAfter.map((l) => l.toFixed(2)).join(' ')} after\n`,
);
console.log(table);
if (results.largest) console.log('\nlargest answer:', JSON.stringify(results.largest, null, 2));
