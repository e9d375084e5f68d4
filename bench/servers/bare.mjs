// The limit for one Node process: node:http, the same parsing and the same checks as the library
// (PROTOCOL.md's rules, duplicates by bitmap, results checked), nothing else.
import { createServer } from 'node:http';

import { listening, model, reportOverIpc } from './model.mjs';

const LIMIT = 64 * 1024 * 1024;
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;
const isIndex = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function indexProblems(field, list, min) {
  if (!Array.isArray(list)) return [`${field} must be an array of indices`];
  if (list.length < min) return [`${field} must hold at least ${min} index`];
  let max = 0;
  for (let i = 0; i < list.length; i++) {
    if (!isIndex(list[i])) return [`${field}[${i}] must be an index`];
    if (list[i] > max) max = list[i];
  }
  const seen = new Uint32Array((max >>> 5) + 1);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    const bit = 1 << (v & 31);
    if (seen[v >>> 5] & bit) return [`${field}[${i}] repeats index ${v}`];
    seen[v >>> 5] |= bit;
  }
  return [];
}

// PROTOCOL.md's rules for a result value: finite numbers, no holes, plain JSON values only.
function checkValue(value, depth = 0) {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('not a finite number');
    return;
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value !== 'object' || depth > 64) throw new Error('not JSON');
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (value[i] === undefined) throw new Error('a hole');
      checkValue(value[i], depth + 1);
    }
    return;
  }
  for (const key of Object.keys(value)) if (value[key] !== undefined) checkValue(value[key], depth + 1);
}

const INDEX_KEY = /^(0|[1-9][0-9]{0,15})$/;

/** Test predictions or labels keyed by index (object, Map or array) as a JSON object, and its keys. */
function keyedJson(keyed) {
  if (Array.isArray(keyed)) {
    const parts = new Array(keyed.length);
    for (let i = 0; i < keyed.length; i++) {
      checkValue(keyed[i]);
      parts[i] = `"${i}":${JSON.stringify(keyed[i])}`;
    }
    return { json: `{${parts.join(',')}}`, keys: keyed.length };
  }
  if (keyed instanceof Map) {
    const parts = [];
    for (const [key, value] of keyed) {
      if (!INDEX_KEY.test(String(key))) throw new Error('not an index');
      checkValue(value);
      parts.push(`"${key}":${JSON.stringify(value)}`);
    }
    return { json: `{${parts.join(',')}}`, keys: new Set(Array.from(keyed.keys(), String)) };
  }
  const keys = Object.keys(keyed);
  for (const key of keys) {
    if (!INDEX_KEY.test(key)) throw new Error('not an index');
    checkValue(keyed[key]);
  }
  return { json: JSON.stringify(keyed), keys: new Set(keys) };
}

function sameKeys(a, b) {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  if (a.size !== b.size) return false;
  for (const key of a) if (!b.has(key)) return false;
  return true;
}

function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer((req, res) => {
  const kind = req.url.slice(1);
  if (req.method !== 'POST' || !['train', 'test', 'infer'].includes(kind)) return answer(res, 404, '{"status":404}');
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size <= LIMIT) chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > LIMIT) return answer(res, 413, '{"status":413}');
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return answer(res, 400, '{"status":400}');
    }
    const problems = [];
    if (!NAME.test(body.ckpt_file ?? '')) problems.push('ckpt_file');
    if (kind === 'train') {
      problems.push(...indexProblems('labeled', body.labeled, 1));
      if (body.resume_from && !NAME.test(body.resume_from)) problems.push('resume_from');
    }
    if (kind === 'infer') problems.push(...indexProblems('unlabeled', body.unlabeled, 0));
    if (problems.length) return answer(res, 400, JSON.stringify({ status: 400, error: 'Bad Request', message: problems }));
    if (kind === 'train') {
      model.train(body);
      return answer(res, 200, '{"status":200}');
    }
    if (kind === 'test') {
      const result = model.test(body);
      try {
        const predictions = keyedJson(result.predictions);
        const labels = keyedJson(result.labels);
        if (!sameKeys(predictions.keys, labels.keys)) throw new Error('different indices');
        return answer(res, 200, `{"status":200,"predictions":${predictions.json},"labels":${labels.json}}`);
      } catch {
        return answer(res, 500, '{"status":500}');
      }
    }
    const { outputs } = model.infer(body);
    if (outputs.length !== body.unlabeled.length) return answer(res, 500, '{"status":500}');
    const parts = new Array(outputs.length);
    try {
      for (let i = 0; i < outputs.length; i++) {
        checkValue(outputs[i]);
        parts[i] = `"${body.unlabeled[i]}":${JSON.stringify(outputs[i])}`;
      }
    } catch {
      return answer(res, 500, '{"status":500}');
    }
    answer(res, 200, `{"status":200,"outputs":{${parts.join(',')}}}`);
  });
});

await reportOverIpc();
server.listen(Number(process.env.PORT), '127.0.0.1', () => listening(Number(process.env.PORT)));
