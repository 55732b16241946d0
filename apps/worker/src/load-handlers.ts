import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { coerceError } from '@vouchflow/core';
import type { AnyHandler } from '@vouchflow/handler-kit';
import type { BuiltIns } from '@vouchflow/handlers';
import { buildRegistry, HandlerRegistryError } from './registry.js';

/** `./x`, `../x`, `/x`, `C:\x` and `file:` URLs are paths; anything else is a built-in name or a package. */
const looksLikePath = (spec: string) =>
  /^\.{1,2}[/\\]/.test(spec) || isAbsolute(spec) || spec.startsWith('file:') || /^[A-Za-z]:[/\\]/.test(spec);

/** A bare name such as `email` or `emial`, not `@scope/pkg` or `pkg/sub`. */
const isBareWord = (spec: string) => /^[a-z][a-z0-9_-]*$/.test(spec);

/**
 * A package is resolved from the working directory (where the deployment
 * installs its plugins), falling back to the worker's own dependencies.
 */
function packageUrl(spec: string, cwd: string): string {
  try {
    return pathToFileURL(createRequire(join(cwd, 'noop.js')).resolve(spec)).href;
  } catch {
    return spec;
  }
}

async function importModule(spec: string, cwd: string, builtIns: BuiltIns): Promise<unknown> {
  const target = looksLikePath(spec) ? (spec.startsWith('file:') ? spec : pathToFileURL(resolve(cwd, spec)).href) : packageUrl(spec, cwd);
  try {
    return await import(target);
  } catch (thrown) {
    const err = coerceError(thrown) as Error & { code?: string };
    const notFound = err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND';
    if (notFound && isBareWord(spec)) {
      const names = [...Object.keys(builtIns.all), ...Object.keys(builtIns.unavailable)].sort();
      throw new HandlerRegistryError(
        `HANDLERS: "${spec}" is neither a built-in handler (${names.join(', ')}) nor an installed package; a file needs a path such as ./${spec}.ts`,
        { cause: err },
      );
    }
    if (notFound && !looksLikePath(spec) && existsSync(resolve(cwd, spec))) {
      throw new HandlerRegistryError(`HANDLERS: "${spec}" is a file, but without ./ it is read as a package name: write ./${spec}`, {
        cause: err,
      });
    }
    const where = looksLikePath(spec) ? ` (${resolve(cwd, spec)})` : '';
    throw new HandlerRegistryError(`HANDLERS: module "${spec}"${where} failed to load: ${err.message}`, { cause: err });
  }
}

/**
 * The handlers of a module: its default export, a handler or a list of them.
 * A CommonJS module compiled from TypeScript nests it once more (`exports.default`).
 */
function exportedHandlers(mod: unknown, spec: string): unknown[] {
  let exported = (mod as { default?: unknown }).default;
  if (exported === undefined) {
    throw new HandlerRegistryError(`HANDLERS: module "${spec}" has no default export; export default a handler or an array of handlers`);
  }
  const nested = typeof exported === 'object' && exported !== null && 'default' in exported ? exported.default : undefined;
  if (nested !== undefined && typeof (exported as { handle?: unknown }).handle !== 'function') exported = nested;
  const list = Array.isArray(exported) ? exported : [exported];
  if (list.length === 0) throw new HandlerRegistryError(`HANDLERS: module "${spec}" exports an empty list of handlers`);
  return list;
}

/**
 * Resolves `HANDLERS`: built-in names, or module specifiers (a path or a
 * package) whose default export is a handler or a list of handlers. Unset:
 * the built-ins' defaults. Any problem throws a `HandlerRegistryError`
 * naming the module and what is wrong, so the worker stops at start.
 */
export async function loadHandlers(names: readonly string[] | undefined, builtIns: BuiltIns, cwd = process.cwd()): Promise<AnyHandler[]> {
  const specs = names && names.length > 0 ? names : builtIns.defaults;
  const entries: Array<{ handler: unknown; origin: string }> = [];
  for (const spec of specs) {
    const builtIn = builtIns.all[spec];
    if (builtIn) {
      entries.push({ handler: builtIn, origin: `built-in "${spec}"` });
      continue;
    }
    const missing = builtIns.unavailable[spec];
    if (missing !== undefined) throw new HandlerRegistryError(`HANDLERS: built-in "${spec}" is not configured: ${missing}`);
    const mod = await importModule(spec, cwd, builtIns);
    const list = exportedHandlers(mod, spec);
    list.forEach((handler, i) => entries.push({ handler, origin: `module "${spec}"${list.length > 1 ? ` (handler #${i + 1})` : ''}` }));
  }
  return buildRegistry(entries);
}
