#!/usr/bin/env node
import { reportError } from './common.js';
import { buildProgram } from './program.js';

// The AWS SDK warns on Node < 22 (9 lines on stderr before msb's one line) that SDK versions published after January
// 2027 will need Node 22; the versions package-lock.json pins support Node 20, msb's floor. The SDK's own switch turns
// that notice off for the CLI; a user who sets the variable keeps their value. Library users are left alone.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ||= 'true';

// An error nothing caught (an event emitter's, a rejected promise nobody awaited) is still one line, not a stack.
const fatal = (err: unknown) => {
  process.exitCode = reportError(err);
  process.exit();
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

try {
  await (await buildProgram(process.argv)).parseAsync(process.argv);
} catch (err) {
  // Thrown outside an action: an option or argument parser (`--version ../..`) runs inside commander's parse.
  process.exitCode = reportError(err);
}
