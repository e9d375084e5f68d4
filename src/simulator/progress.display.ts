import type { Phase } from './loop.simulator.js';

/** Where the command prints: a stream, and whether it is a terminal (then lines are rewritten in place). */
export type OutputStream = NodeJS.WritableStream & { isTTY?: boolean };

/**
 * Where the run is: on a terminal, one line rewritten in place with the elapsed time ticking;
 * elsewhere (CI logs, a pipe), a plain line per phase.
 */
export class ProgressDisplay {
  private readonly started = performance.now();
  private current = '';
  private timer?: NodeJS.Timeout;

  constructor(private readonly out: OutputStream) {
    if (out.isTTY) {
      this.timer = setInterval(() => this.redraw(), 250);
      this.timer.unref();
    }
  }

  phase(run: string, loop: number, loops: number, phase: Phase): void {
    // Loops are numbered from 0, as their checkpoints are (ckpt_0 is loop 0).
    this.current = `${run} · loop ${loop} of 0-${loops - 1} · ${phase}`;
    if (this.out.isTTY) this.redraw();
    else this.out.write(`${this.current} · ${this.elapsed()}\n`);
  }

  /** A line that stays: a finished loop, a warning. */
  line(text: string): void {
    this.out.write(this.out.isTTY ? `\r\x1b[K${text}\n` : `${text}\n`);
    if (this.out.isTTY) this.redraw();
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.out.isTTY) this.out.write('\r\x1b[K');
  }

  private redraw(): void {
    if (this.current) this.out.write(`\r\x1b[K${this.current} · ${this.elapsed()}`);
  }

  private elapsed(): string {
    return `${((performance.now() - this.started) / 1000).toFixed(1)} s`;
  }
}
