/** Something the simulated platform cannot go on from: the CLI prints it and exits non-zero. */
export class SimulationError extends Error {
  override readonly name = 'SimulationError';
}

/** One answer of the server, with what it cost. */
export interface Exchange<T> {
  body: T;
  requestBytes: number;
  responseBytes: number;
  ms: number;
}

/** The platform's side of PROTOCOL.md's HTTP: JSON in, JSON out, errors named. */
export class ProtocolClient {
  private readonly base: string;

  constructor(
    url: string,
    private readonly token?: string,
    private readonly signal?: AbortSignal,
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  /** GET /health: the server's answer, with `pool_size` when it knows its pool. */
  health(): Promise<Exchange<{ pool_size?: unknown }>> {
    return this.call('GET', '/health');
  }

  /** POSTs one of the protocol's three calls; throws a SimulationError on any answer but a 2xx `{"status": 200}`. */
  post<T>(path: '/train' | '/test' | '/infer', body: unknown): Promise<Exchange<T>> {
    return this.call('POST', path, body);
  }

  private async call<T>(method: string, path: string, payload?: unknown): Promise<Exchange<T>> {
    const started = performance.now();
    const text = payload === undefined ? undefined : JSON.stringify(payload);
    const headers: Record<string, string> = {};
    if (text !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let response: Response;
    let answer: string;
    try {
      response = await fetch(`${this.base}${path}`, { method, headers, body: text, signal: this.signal });
      answer = await response.text();
    } catch (error) {
      if (this.signal?.aborted) throw error;
      throw new SimulationError(`${method} ${this.base}${path} failed: ${reason(error)}`);
    }
    let body: T & { message?: unknown };
    try {
      body = JSON.parse(answer);
    } catch {
      throw new SimulationError(
        `${method} ${path} answered ${response.status} with a body that is not JSON: ${JSON.stringify(answer.slice(0, 120))}`,
      );
    }
    if (!response.ok) {
      const message = Array.isArray(body?.message) ? body.message.join('; ') : String(body?.message ?? answer.slice(0, 200));
      throw new SimulationError(`${method} ${path} answered ${response.status}: ${message}`);
    }
    if (body === null || typeof body !== 'object' || (body as { status?: unknown }).status !== 200) {
      throw new SimulationError(`${method} ${path} answered ${response.status} without {"status": 200} in its body`);
    }
    return {
      body,
      requestBytes: text === undefined ? 0 : Buffer.byteLength(text),
      responseBytes: Buffer.byteLength(answer),
      ms: performance.now() - started,
    };
  }
}

function reason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused (is the server running, and is --url right?)';
  if (cause?.code === 'ENOTFOUND') return 'host not found (check --url)';
  return cause?.message ?? (error instanceof Error ? error.message : String(error));
}
