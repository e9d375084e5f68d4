// What one of the module's per-call log lines costs in Nest's loggers, written where a server's
// stdout goes (run by bench/run.mjs with stdout to /dev/null; `node bench/log-line.mjs | cat`
// for a pipe). Prints, or sends over IPC, microseconds per line: the default ConsoleLogger, its
// JSON form, and an app logger with the 'log' level off (the line is not written at all).
import { ConsoleLogger, Logger } from '@nestjs/common';

const LINES = 20_000;
const logger = new Logger('Alectio');
const line = (i) => `POST /train labeled=10 ckpt_file=ckpt_${i % 10} -> 200 in ${(0.3 + (i % 7) / 10).toFixed(1)} ms`;

function perLine() {
  for (let i = 0; i < 2000; i++) logger.log(line(i)); // warm-up
  const started = performance.now();
  for (let i = 0; i < LINES; i++) logger.log(line(i));
  return ((performance.now() - started) * 1000) / LINES;
}

const figures = {};
Logger.overrideLogger(new ConsoleLogger());
figures['ConsoleLogger, the default'] = perLine();
Logger.overrideLogger(new ConsoleLogger({ json: true }));
figures['ConsoleLogger({ json: true })'] = perLine();
Logger.overrideLogger(new ConsoleLogger({ logLevels: ['error', 'warn'] }));
figures["logLevels ['error', 'warn']: the line skipped"] = perLine();
if (process.send) process.send(figures);
else console.error(figures);
