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

function finiteJson(value) {
  for (let i = 0; i < value.length; i++) if (!Number.isFinite(value[i])) throw new Error('not finite');
  return JSON.stringify(value);
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
      const { predictions, labels } = model.test(body);
      return answer(
        res,
        200,
        `{"status":200,"predictions":${JSON.stringify({ ...predictions })},"labels":${JSON.stringify({ ...labels })}}`,
      );
    }
    const { outputs } = model.infer(body);
    if (outputs.length !== body.unlabeled.length) return answer(res, 500, '{"status":500}');
    const parts = new Array(outputs.length);
    for (let i = 0; i < outputs.length; i++) parts[i] = `"${body.unlabeled[i]}":${finiteJson(outputs[i])}`;
    answer(res, 200, `{"status":200,"outputs":{${parts.join(',')}}}`);
  });
});

await reportOverIpc();
server.listen(Number(process.env.PORT), '127.0.0.1', () => listening(Number(process.env.PORT)));
