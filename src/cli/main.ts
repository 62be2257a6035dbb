#!/usr/bin/env node
import { reportError } from './common.js';
import { buildProgram } from './program.js';

// An error nothing caught (an event emitter's, a rejected promise nobody awaited) is still one line, not a stack.
const fatal = (err: unknown) => {
  process.exitCode = reportError(err);
  process.exit();
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  // Thrown outside an action: an option or argument parser (`--version ../..`) runs inside commander's parse.
  process.exitCode = reportError(err);
}
