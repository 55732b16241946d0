import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { coerceError } from '@vouchflow/core';
import { buildHandler, isHandlerFactory, narrowLogger, type AnyHandler, type Logger } from '@vouchflow/handler-kit';
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
    // A plugin outside this repository must install the kit itself; Node's message alone does not say so.
    const kitMissing = notFound && /Cannot find (package|module) '@vouchflow\/(handler-kit|schema)'/.test(err.message);
    const hint = kitMissing
      ? "; install the packed kit in the plugin's own directory (npm install ./vouchflow-schema-<version>.tgz ./vouchflow-handler-kit-<version>.tgz, see docs/handlers.md)"
      : '';
    throw new HandlerRegistryError(`HANDLERS: module "${spec}"${where} failed to load: ${err.message}${hint}`, { cause: err });
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
  for (const entry of list) {
    if (typeof entry === 'function' && !isHandlerFactory(entry)) {
      throw new HandlerRegistryError(
        `HANDLERS: module "${spec}": default export is a function${(entry as { name?: string }).name ? ` (${(entry as { name: string }).name})` : ''}, not a handler or a handler factory; ` +
          'export the handler object, or make the factory with defineHandlerFactory({ name, settings, create }) so its name and settings are known',
      );
    }
  }
  return list;
}

/** What factories get besides their settings' source: the worker's logger, narrowed per handler. */
export interface PluginDeps {
  /** Where `HANDLER_<NAME>_*` settings are read from: the worker's environment. */
  env: Readonly<Record<string, string | undefined>>;
  /** The worker's logger; each factory gets a write-only child scoped to its handler. */
  logger: { child(fields: Record<string, unknown>): Logger };
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Builds a factory's handler from its decoded settings, or says which variable is wrong. */
async function fromFactory(factory: unknown, origin: string, deps: PluginDeps): Promise<unknown> {
  if (!isHandlerFactory(factory)) return factory;
  const name = factory.handlerName;
  let handler: AnyHandler;
  try {
    handler = await buildHandler(factory, deps.env, narrowLogger(deps.logger.child({ handler: name })));
  } catch (thrown) {
    const err = coerceError(thrown);
    const what = err.name === 'HandlerSettingsError' ? err.message : `factory of "${name}" threw: ${err.message}`;
    throw new HandlerRegistryError(`HANDLERS: ${origin}: ${what}`, { cause: err });
  }
  if (handler?.name !== name) {
    throw new HandlerRegistryError(
      `HANDLERS: ${origin}: the factory is named "${name}" but built a handler named ${JSON.stringify(handler?.name)}; use one name, it also names the settings`,
    );
  }
  return handler;
}

/**
 * Resolves `HANDLERS`: built-in names, or module specifiers (a path or a
 * package) whose default export is a handler, a handler factory
 * (`defineHandlerFactory`: built with its `HANDLER_<NAME>_*` settings from
 * `plugins.env`, decoded by its codec) or a list of them. Unset: the
 * built-ins' defaults. Any problem throws a `HandlerRegistryError` beginning
 * `HANDLERS:`, naming the module and what to change, so the worker stops at start.
 */
export async function loadHandlers(
  names: readonly string[] | undefined,
  builtIns: BuiltIns,
  cwd = process.cwd(),
  plugins: PluginDeps = { env: {}, logger: { child: () => silent } },
): Promise<AnyHandler[]> {
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
    for (const [i, exported] of list.entries()) {
      const origin = `module "${spec}"${list.length > 1 ? ` (handler #${i + 1})` : ''}`;
      entries.push({ handler: await fromFactory(exported, origin, plugins), origin });
    }
  }
  return buildRegistry(entries);
}
