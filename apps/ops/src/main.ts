import { runCli } from './cli/program.js';
import { serveAdmin } from './admin/serve.js';

// The one place that reads the environment: each command decodes what it needs from it, once.
const code = await runCli(process.argv.slice(2), {
  io: { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
  env: process.env,
  serve: serveAdmin,
});
process.exitCode = code;
