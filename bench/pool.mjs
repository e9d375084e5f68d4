// npm run bench:pool — distributed mode on this machine: POST /infer with 500,000 indices and a
// method that burns a fixed amount of CPU per index, answered in-process, then by an API process
// with 1 and with 2 workers on a redis-server of its own (Debian's, on a free port). Prints the
// speed-up and the cost of each chunk, and writes bench/pool-results.json. Needs the built package.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';

const quick = process.argv.includes('--quick');
const INDICES = quick ? 100_000 : 500_000;
const MICROS_PER_INDEX = 10;
const CHUNK = 10_000;
const REPEATS = quick ? 1 : 3;
const member = new URL('../test/fixtures/pool-member.mjs', import.meta.url);

const freePort = () =>
  new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });

const children = new Set();
// Whatever happens to this script, it leaves no server behind.
process.on('exit', () => children.forEach((child) => child.kill('SIGKILL')));

/** A child process, ready once it prints `ready` (or, for Redis, accepts connections). */
function run(command, args, env, ready) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

async function startPool(redisUrl, workers, queue) {
  const port = await freePort();
  const env = { POOL_MICROS_PER_INDEX: String(MICROS_PER_INDEX), ALECTIO_INFER_CHUNK: String(CHUNK), ALECTIO_QUEUE: queue };
  const pooled = redisUrl ? { ...env, ALECTIO_REDIS_URL: redisUrl } : env;
  const children = await Promise.all([
    run(process.execPath, [member.pathname], { ...pooled, PORT: String(port), ALECTIO_ROLE: 'api' }, /pool member ready/),
    ...Array.from({ length: workers }, () =>
      run(process.execPath, [member.pathname], { ...pooled, ALECTIO_ROLE: 'worker' }, /worker of the queue/),
    ),
  ]);
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => Promise.all(children.map((child) => new Promise((resolve) => (child.once('exit', resolve), child.kill())))),
  };
}

async function infer(url, body) {
  const started = performance.now();
  const response = await fetch(`${url}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`/infer answered ${response.status}: ${text.slice(0, 300)}`);
  return performance.now() - started;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const redisPort = await freePort();
const redis = await run(
  'redis-server',
  ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
  {},
  /Ready to accept connections/,
);
const redisUrl = `redis://127.0.0.1:${redisPort}`;
const body = JSON.stringify({ unlabeled: Array.from({ length: INDICES }, (_, i) => i), ckpt_file: 'ckpt_0' });
const loadBefore = loadavg();
const figures = {};
for (const [name, workers] of [
  ['in-process', 0],
  ['1 worker', 1],
  ['2 workers', 2],
]) {
  process.stderr.write(`${name}\n`);
  const pool = await startPool(workers ? redisUrl : undefined, workers, `bench${workers}`);
  await infer(pool.url, JSON.stringify({ unlabeled: [1, 2, 3], ckpt_file: 'ckpt_0' })); // warm-up
  const times = [];
  for (let i = 0; i < REPEATS; i++) times.push(await infer(pool.url, body));
  figures[name] = { medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times) };
  await pool.stop();
}
redis.kill();

const chunks = Math.ceil(INDICES / CHUNK);
const result = {
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, loadBefore, loadAfter: loadavg() },
  scenario: { indices: INDICES, microsPerIndex: MICROS_PER_INDEX, chunkSize: CHUNK, chunks, repeats: REPEATS },
  figures,
  speedUp: figures['1 worker'].medianMs / figures['2 workers'].medianMs,
  overheadPerChunkMs: (figures['1 worker'].medianMs - figures['in-process'].medianMs) / chunks,
};
writeFileSync(new URL('./pool-results.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
const line = (name) =>
  `| ${name} | ${(figures[name].minMs / 1000).toFixed(2)} / ${(figures[name].medianMs / 1000).toFixed(2)} / ${(figures[name].maxMs / 1000).toFixed(2)} |`;
console.log(
  `${result.machine.cpu} × ${result.machine.cores}, Node ${result.machine.node}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before`,
);
console.log(
  `POST /infer, ${INDICES.toLocaleString('en')} indices, ${MICROS_PER_INDEX} µs of CPU each, chunks of ${CHUNK.toLocaleString('en')} (${chunks}), ${REPEATS} run(s)\n`,
);
console.log('| served by | seconds (min / median / max) |\n| --- | ---: |');
for (const name of Object.keys(figures)) console.log(line(name));
console.log(`\nspeed-up, 2 workers over 1: ${result.speedUp.toFixed(2)}×`);
console.log(`overhead per chunk (1 worker against in-process): ${result.overheadPerChunkMs.toFixed(1)} ms`);
