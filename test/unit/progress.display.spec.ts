import { PassThrough } from 'node:stream';

import { describe, expect, it } from '@jest/globals';

import { ProgressDisplay } from '../../src/simulator/progress.display.js';

function capture(isTTY: boolean) {
  const stream = Object.assign(new PassThrough(), { isTTY });
  const written: string[] = [];
  stream.on('data', (chunk) => written.push(String(chunk)));
  return { stream, text: () => written.join('') };
}

describe('the simulator’s progress display', () => {
  it('writes a plain line per phase when not on a terminal', () => {
    const { stream, text } = capture(false);
    const progress = new ProgressDisplay(stream);
    progress.phase('entropy seed 1', 0, 5, 'train');
    progress.phase('entropy seed 1', 0, 5, 'infer');
    progress.line('entropy seed 1 · loop 0 of 0-4: 100 labeled, accuracy 71.0%');
    progress.stop();
    const lines = text().trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^entropy seed 1 · loop 0 of 0-4 · train · \d+\.\d s$/);
    expect(lines[1]).toMatch(/^entropy seed 1 · loop 0 of 0-4 · infer · /);
    expect(text()).not.toContain('\r');
  });

  it('rewrites one line in place on a terminal, and clears it at the end', () => {
    const { stream, text } = capture(true);
    const progress = new ProgressDisplay(stream);
    progress.phase('random seed 2', 2, 3, 'test');
    progress.line('random seed 2 · loop 2 of 0-2: 300 labeled, accuracy 80.0%');
    progress.stop();
    expect(text()).toMatch(/^\r\x1b\[Krandom seed 2 · loop 2 of 0-2 · test · \d+\.\d s/);
    expect(text()).toContain('\r\x1b[Krandom seed 2 · loop 2 of 0-2: 300 labeled, accuracy 80.0%\n');
    expect(text().endsWith('\r\x1b[K')).toBe(true);
    expect(text().split('\n')).toHaveLength(2); // the phase line never became a line of its own
  });
});
