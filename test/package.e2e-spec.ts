/**
 * The package as a customer gets it: `npm pack` the repo, check what the tarball holds, install
 * it into two fresh apps (ESM and CommonJS) the way npm lays a package out, compile each app with
 * the repo's TypeScript against the published .d.ts files, start it as a real process and drive
 * it over HTTP.
 *
 * The apps' other dependencies are symlinked from the repo's node_modules, so nothing needs the
 * network and the app and the library share one copy of Nest (checked below). The apps live in the
 * OS temp folder, away from the repo, so that nothing resolves through the repo's node_modules by
 * accident. Set KEEP_CONSUMER_APPS=1 to keep the temp folders for a look after a failure.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

const repo = fileURLToPath(new URL('..', import.meta.url));
const repoModules = join(repo, 'node_modules');
const consumers = join(repo, 'test', 'consumers');
const tsc = join(repoModules, 'typescript', 'bin', 'tsc');
const keep = Boolean(process.env.KEEP_CONSUMER_APPS);

/** What a customer's app depends on besides the library, as `npm install` would have put it. */
const APP_DEPENDENCIES = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/platform-express',
  'reflect-metadata',
  'rxjs',
  'class-validator',
  'raw-body',
  'bytes',
  '@types/node',
];

/** Packages that must be one and the same copy for the app and for the library. */
const SHARED = ['@nestjs/common', '@nestjs/core', 'reflect-metadata', 'rxjs', 'class-validator', 'raw-body', 'bytes'];

interface Output {
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string, timeout = 60_000): Promise<Output> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
    execFile(file, args, { cwd, env, timeout, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        reject(
          new Error(
            `${[file, ...args].join(' ')} (in ${cwd}) failed: ${error.message}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`,
          ),
        );
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

/**
 * Extracts the files of an npm tarball under `package/` into `dest`, as npm installs a package
 * into node_modules/<name>. Plain Node, so that CI needs no particular `tar` binary.
 */
function extractPackage(tarball: string, dest: string): void {
  const data = gunzipSync(readFileSync(tarball));
  const text = (block: Buffer, start: number, length: number): string =>
    block
      .subarray(start, start + length)
      .toString('utf8')
      .replace(/\0[\s\S]*$/, '');
  let longName: string | undefined;
  for (let offset = 0; offset + 512 <= data.length;) {
    const header = data.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const size = parseInt(text(header, 124, 12).trim() || '0', 8);
    const type = text(header, 156, 1) || '0';
    const prefix = text(header, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    const body = data.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    longName = undefined;
    if (type === 'x') longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1];
    else if (type === 'L') longName = text(body, 0, body.length);
    if (type !== '0' && type !== '7') continue; // npm packs regular files only; folders are implied
    const path = posix.normalize(name);
    if (!path.startsWith('package/') || path.split('/').includes('..')) throw new Error(`unexpected path in ${tarball}: ${name}`);
    const target = join(dest, ...path.slice('package/'.length).split('/'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, body);
  }
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort();
}

/** The end of a child's output, each line marked so that jest does not take `at ...` lines for our stack. */
function tail(text: string, max = 6000): string {
  const end = text.length > max ? `...${text.slice(-max)}` : text;
  return end
    ? end
        .replace(/\n$/, '')
        .split('\n')
        .map((line) => `| ${line}`)
        .join('\n')
    : '| (empty)';
}

/** A customer's app, installed, compiled and running. */
class CustomerApp {
  child?: ChildProcess;
  url = '';
  stdout = '';
  stderr = '';
  exit?: string;

  constructor(
    readonly variant: Variant,
    readonly dir: string,
  ) {}

  /** Lays the app out: its sources, package.json, tsconfig.json and node_modules. */
  install(tarball: string): void {
    cpSync(join(consumers, 'app'), join(this.dir, 'src'), { recursive: true });
    cpSync(join(consumers, this.variant.name, 'package.json'), join(this.dir, 'package.json'));
    cpSync(join(consumers, this.variant.name, 'tsconfig.json'), join(this.dir, 'tsconfig.json'));
    const modules = join(this.dir, 'node_modules');
    for (const name of APP_DEPENDENCIES) {
      const target = join(repoModules, name);
      if (!existsSync(target)) throw new Error(`${target} is missing: run npm ci first`);
      mkdirSync(dirname(join(modules, name)), { recursive: true });
      symlinkSync(target, join(modules, name), 'junction'); // 'junction' only matters on Windows
    }
    // npm tarballs hold everything under package/; npm installs that folder as node_modules/<name>.
    extractPackage(tarball, join(modules, 'nestjs-alectio'));
  }

  async compile(): Promise<void> {
    await run(process.execPath, [tsc, '-p', join(this.dir, 'tsconfig.json')], this.dir);
  }

  /** Where `require`/`import` of each shared package leads, seen from the app and from the library. */
  async resolutions(): Promise<Record<string, { app: string; library: string }>> {
    const script = `
      const { createRequire } = require('node:module');
      const { realpathSync } = require('node:fs');
      const [appFile, libraryFile, ...names] = process.argv.slice(1);
      const fromApp = createRequire(appFile);
      const fromLibrary = createRequire(libraryFile);
      const out = {};
      for (const name of names) {
        out[name] = { app: realpathSync(fromApp.resolve(name)), library: realpathSync(fromLibrary.resolve(name)) };
      }
      console.log(JSON.stringify(out));
    `;
    const appFile = join(this.dir, 'dist', 'main.js');
    const libraryFile = join(this.dir, 'node_modules', 'nestjs-alectio', 'dist', 'src', 'index.js');
    const { stdout } = await run(process.execPath, ['-e', script, appFile, libraryFile, ...SHARED], this.dir);
    return JSON.parse(stdout);
  }

  /** Starts `node dist/main.js` on 127.0.0.1, port 0 (the OS picks a free one), and waits for its URL. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join('dist', 'main.js')], {
        cwd: this.dir,
        env: { ...process.env, PORT: '0', NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.child = child;
      const timer = setTimeout(() => fail(new Error('the app did not report its URL within 20 s')), 20_000);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        reject(this.withOutput(error));
      };
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        this.stdout += chunk;
        const match = /listening on (http:\/\/\S+)/.exec(this.stdout);
        if (match && !this.url) {
          this.url = match[1];
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
      child.on('error', fail);
      child.on('exit', (code, signal) => {
        this.exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
        if (!this.url) fail(new Error(`the app ${this.exit} before listening`));
      });
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }

  /** The same error, with what the app printed: a failure shows the child's stderr. */
  withOutput(error: unknown): Error {
    const original = error instanceof Error ? error : new Error(String(error));
    const wrapped = new Error(
      `${original.message}\n\n--- ${this.variant.name} app (${this.dir}) ${this.exit ?? 'still running'} ---` +
        `\n--- stderr ---\n${tail(this.stderr)}\n--- stdout ---\n${tail(this.stdout)}`,
    );
    // Keep the frames of the original error: they point at the failing line of this file.
    const frames = original.stack?.split('\n').filter((line) => /^\s+at /.test(line)) ?? [];
    wrapped.stack = [`Error: ${wrapped.message}`, ...frames].join('\n');
    return wrapped;
  }

  /** Runs a check against the app; a failure carries the app's output. */
  async check(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      throw this.withOutput(error);
    }
  }

  async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${method} ${path} answered ${response.status} with a body that is not JSON: ${text.slice(0, 500)}`);
    }
    return { status: response.status, json };
  }
}

interface Variant {
  name: 'esm' | 'cjs';
  /** How the compiled app imports the library: proof that the variant's module format is real. */
  importsLibrary: RegExp;
}

const VARIANTS: Variant[] = [
  { name: 'esm', importsLibrary: /^import .* from 'nestjs-alectio';$/m },
  // Nest 12 and this library are ESM only: a CommonJS app loads them through require(esm).
  { name: 'cjs', importsLibrary: /= require\("nestjs-alectio"\);$/m },
];

describe('the published package', () => {
  let packDir: string;
  let extracted: string;
  let tarball: string;
  let entries: string[];
  let manifest: Record<string, any>;

  beforeAll(async () => {
    packDir = mkdtempSync(join(tmpdir(), 'nestjs-alectio-pack-'));
    // prepack runs `nest build`, so the tarball holds a fresh build of src.
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', packDir], repo, 120_000);
    const [report] = JSON.parse(stdout) as Array<{ filename: string }>;
    tarball = join(packDir, report.filename);
    extracted = join(packDir, 'extracted');
    extractPackage(tarball, extracted);
    entries = listFiles(extracted);
    manifest = JSON.parse(readFileSync(join(extracted, 'package.json'), 'utf8'));
  }, 120_000);

  afterAll(() => {
    if (packDir && !keep) rmSync(packDir, { recursive: true, force: true });
  });

  it('holds only package.json, README/LICENSE, the guides of docs/ and the compiled library (.js and .d.ts of dist/src)', () => {
    const allowed = [
      /^package\.json$/,
      /^(README|LICEN[CS]E)(\.(md|markdown|txt))?$/i,
      /^docs\/[^/]+\.md$/,
      /^dist\/src\/.+(?<!\.d)\.js$/,
      /^dist\/src\/.+\.d\.ts$/,
    ];
    expect(entries.filter((entry) => !allowed.some((pattern) => pattern.test(entry)))).toEqual([]);
    expect(entries.filter((entry) => /\.map$|^sample\/|^dist\/sample\/|^test\/|(?<!\.d)\.ts$/.test(entry))).toEqual([]);
  });

  it("holds every guide of docs/, so that the README's links work from the registry", () => {
    const guides = listFiles(join(repo, 'docs')).filter((file) => file.endsWith('.md'));
    expect(guides).toEqual(expect.arrayContaining(['PROTOCOL.md', 'ARCHITECTURE.md']));
    expect(entries.filter((entry) => entry.startsWith('docs/')).sort()).toEqual(guides.map((file) => `docs/${file}`).sort());
  });

  it('holds the .js and the .d.ts of every source file of src', () => {
    const sources = listFiles(join(repo, 'src')).filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'));
    expect(sources.length).toBeGreaterThan(0);
    const expected = sources.flatMap((file) => {
      const base = `dist/src/${file.replace(/\.ts$/, '')}`;
      return [`${base}.js`, `${base}.d.ts`];
    });
    expect(expected.filter((file) => !entries.includes(file))).toEqual([]);
  });

  it('has a package.json whose entry points are in the tarball', () => {
    expect(manifest).toMatchObject({ name: 'nestjs-alectio', type: 'module' });
    expect(manifest.private).toBeUndefined();
    const targets = [manifest.main, manifest.types, manifest.exports['.'].types, manifest.exports['.'].default];
    for (const target of targets) {
      expect(typeof target).toBe('string');
      expect(entries).toContain(target.replace(/^\.\//, ''));
    }
    expect(manifest.exports['.'].types).toBe(manifest.types);
  });

  it('declares every package its compiled code imports, as a dependency or a peer dependency', () => {
    const imported = new Set<string>();
    const specifiers = /\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g;
    for (const entry of entries.filter((file) => file.endsWith('.js'))) {
      for (const [, specifier] of readFileSync(join(extracted, entry), 'utf8').matchAll(specifiers)) {
        if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
        imported.add(
          specifier
            .split('/')
            .slice(0, specifier.startsWith('@') ? 2 : 1)
            .join('/'),
        );
      }
    }
    expect([...imported]).toEqual(expect.arrayContaining(['@nestjs/common', '@nestjs/core']));
    const declared = Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies });
    expect([...imported].filter((name) => !declared.includes(name))).toEqual([]);
  });

  describe.each(VARIANTS)('installed in a fresh $name customer app', (variant) => {
    let app: CustomerApp;

    beforeAll(async () => {
      if (!tarball) throw new Error('npm pack failed: see the error above');
      app = new CustomerApp(variant, mkdtempSync(join(tmpdir(), `nestjs-alectio-${variant.name}-app-`)));
      app.install(tarball);
      await app.compile();
      await app.start();
    }, 60_000);

    afterAll(async () => {
      await app?.stop();
    });

    it(`compiles with the published types to ${variant.name === 'esm' ? 'ES modules' : 'CommonJS'}`, () => {
      const compiled = readFileSync(join(app.dir, 'dist', 'customer.model.js'), 'utf8');
      expect(compiled).toMatch(variant.importsLibrary);
      if (variant.name === 'cjs') expect(compiled).not.toMatch(/^import /m);
    });

    it('shares a single copy of Nest and its peers with the library', async () => {
      const resolved = await app.resolutions();
      for (const name of SHARED) {
        expect({ name, library: resolved[name].library }).toEqual({ name, library: resolved[name].app });
        expect(resolved[name].app.startsWith(realpathSync(repoModules))).toBe(true);
      }
    });

    it('GET /health lists the three handlers', () =>
      app.check(async () => {
        const res = await app.request('GET', '/health');
        expect(res).toEqual({
          status: 200,
          json: { status: 200, handlers: { train: true, test: true, infer: true }, pool_size: null },
        });
      }));

    it('POST /train calls the @Train() method with the validated payload', () =>
      app.check(async () => {
        const res = await app.request('POST', '/train', {
          labeled: [4, 1, 7],
          resume_from: null,
          ckpt_file: 'ckpt_0',
          extra: 'ignored',
        });
        expect(res).toEqual({ status: 200, json: { status: 200 } });
        // The app's own controller reports what the method received.
        const trained = await app.request('GET', '/customer/trained');
        expect(trained).toEqual({ status: 200, json: [{ labeled: [4, 1, 7], resume_from: null, ckpt_file: 'ckpt_0' }] });
      }));

    it('POST /test answers the @Test() method result keyed by index', () =>
      app.check(async () => {
        const res = await app.request('POST', '/test', { ckpt_file: 'ckpt_0' });
        expect(res).toEqual({
          status: 200,
          json: { status: 200, predictions: { 0: 1, 1: 0, 2: 'ckpt_0'.length }, labels: { 0: 1, 1: 1, 2: 2 } },
        });
      }));

    it('POST /infer answers the @Infer() method outputs keyed by the unlabeled indices', () =>
      app.check(async () => {
        const res = await app.request('POST', '/infer', { unlabeled: [3, 8], ckpt_file: 'ckpt_0' });
        expect(res).toEqual({ status: 200, json: { status: 200, outputs: { 3: [3, -3, 0.5], 8: [8, -8, 0.5] } } });
      }));

    it('ships the nestjs-alectio command, whose simulate runs the loop against this app', () =>
      app.check(async () => {
        const installed = join(app.dir, 'node_modules', 'nestjs-alectio');
        const bin = join(installed, JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).bin['nestjs-alectio']);
        expect(readFileSync(bin, 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
        const out = join(app.dir, 'report');
        const args = [
          'simulate',
          '--url',
          app.url,
          '--pool-size',
          '30',
          '--initial',
          '10',
          '--batch',
          '5',
          '--loops',
          '2',
          '--out',
          out,
        ];
        const { stdout } = await run(process.execPath, [bin, ...args], app.dir);
        expect(stdout).toContain('Test accuracy by labeled count (seed 1):\n\n| labeled | entropy |');
        const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
        expect(report.runs[0].loops.map((l: { labeled_count: number }) => l.labeled_count)).toEqual([10, 15]);
        expect(existsSync(join(out, 'report.html'))).toBe(true);
      }));

    it('exports nestjs-alectio/simulator, whose query strategies work from the install', () =>
      app.check(async () => {
        // The app's own module format: an ES import, or require() of the ESM build (as the main entry is loaded).
        const load =
          variant.name === 'esm'
            ? "import { selectNext, seededRandom } from 'nestjs-alectio/simulator';"
            : "const { selectNext, seededRandom } = require('nestjs-alectio/simulator');";
        const pick = 'selectNext("entropy", new Map([[2, [9, 0]], [5, [0, 0]], [7, [1, 0]]]), 2, seededRandom(1))';
        const flags = variant.name === 'esm' ? ['--input-type=module'] : [];
        const script = `${load} console.log(JSON.stringify(${pick}));`;
        const { stdout } = await run(process.execPath, [...flags, '-e', script], app.dir);
        expect(JSON.parse(stdout)).toEqual([5, 7]);
      }));

    it('validates the body (class-validator works through the install)', () =>
      app.check(async () => {
        const res = await app.request('POST', '/train', { labeled: [], ckpt_file: '../x' });
        expect(res.status).toBe(400);
        expect(res.json).toMatchObject({ status: 400, error: 'Bad Request' });
        const messages = (res.json as { message: string[] }).message;
        expect(messages).toHaveLength(2);
        expect(messages.join('\n')).toMatch(/labeled/);
        expect(messages.join('\n')).toMatch(/ckpt_file/);
      }));
  });
});
