import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { BuiltIns } from '@vouchflow/handlers';
import { buildRegistry, HandlerRegistryError } from './registry.js';
import type { AnyHandler } from '@vouchflow/handler-kit';

const looksLikePath = (spec: string) => spec.startsWith('.') || spec.startsWith('/');

/**
 * Resolves `HANDLERS`: built-in names, or module specifiers (a path or a
 * package) whose default export is a handler or a list of handlers.
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
    let mod: { default?: unknown };
    try {
      mod = (await import(looksLikePath(spec) ? pathToFileURL(resolve(cwd, spec)).href : spec)) as { default?: unknown };
    } catch (err) {
      throw new HandlerRegistryError(`HANDLERS: module "${spec}" failed to load: ${(err as Error).message}`);
    }
    if (mod.default === undefined) throw new HandlerRegistryError(`HANDLERS: module "${spec}" has no default export`);
    const exported = Array.isArray(mod.default) ? mod.default : [mod.default];
    for (const handler of exported) entries.push({ handler, origin: `module "${spec}"` });
  }
  return buildRegistry(entries);
}
