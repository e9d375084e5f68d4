#!/usr/bin/env node
// The `nestjs-alectio` command. Plain Node, no Nest: it plays the platform against any server.
import { SIMULATE_HELP, simulateCommand } from './simulate.command.js';

const [command, ...rest] = process.argv.slice(2);
const controller = new AbortController();
// Ctrl-C stops the run; every finished loop is already in the report.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort());

if (command === 'simulate') {
  process.exitCode = await simulateCommand(rest, { stdout: process.stdout, stderr: process.stderr, signal: controller.signal });
} else if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  process.stdout.write(
    'nestjs-alectio <command>\n\nCommands:\n' +
      "  simulate   run the platform's active-learning loop against a server\n\n" +
      `${SIMULATE_HELP}\n`,
  );
} else {
  process.stderr.write(`nestjs-alectio: unknown command "${command}"; try: nestjs-alectio simulate --help\n`);
  process.exitCode = 2;
}
