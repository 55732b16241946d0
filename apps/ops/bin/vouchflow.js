#!/usr/bin/env node
/*
 * The `vouchflow` command: the ops CLI (`pnpm ops`) with nothing printed
 * around what the command prints (no pnpm `$ node …` or ELIFECYCLE lines), so
 * `--json` output is pure JSON on stdout and stderr.
 *
 * In a checkout it runs the TypeScript source through tsx with the
 * `@vouchflow/source` condition, as `pnpm ops` does, so no build is needed and
 * it never runs a stale one. Where only the build exists (the Docker image,
 * without tsx), it runs apps/ops/dist/main.js in this process.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const built = new URL('../dist/main.js', import.meta.url);

/** tsx's loader as a URL, so it is found wherever the command is run from; undefined where tsx is not installed. */
function tsxLoader() {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return undefined;
  }
}

const loader = existsSync(source) ? tsxLoader() : undefined;
if (loader === undefined) {
  if (!existsSync(fileURLToPath(built))) {
    process.stderr.write('vouchflow: neither the source with tsx nor a build (apps/ops/dist/main.js) is here: run `pnpm build`\n');
    process.exit(1);
  }
  await import(built.href);
} else {
  // stdin, stdout and stderr are this process's own, so a terminal stays a terminal (replay and purge ask there).
  const child = spawn(process.execPath, ['--conditions=@vouchflow/source', '--import', loader, source, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  // Ctrl-C reaches the whole process group, the command included: here it only must not end this
  // process first (a second SIGINT would force `serve` to stop without draining). SIGTERM is sent
  // to this process alone (a supervisor, `kill`): it is passed on.
  const ignore = () => {};
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward);
  child.once('error', (err) => {
    process.stderr.write(`vouchflow: cannot start node: ${err.message}\n`);
    process.exitCode = 1;
  });
  child.once('exit', (code, signal) => {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', forward);
    if (signal) process.kill(process.pid, signal);
    else process.exitCode = code ?? 1;
  });
}
