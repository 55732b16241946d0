/**
 * Turns the examples of Voucherify's OpenAPI webhook description into
 * deliveries, as Voucherify sends them: each example's `data` wrapped in the
 * 2024-01-01 envelope. Writes one file per webhook type to
 * packages/schema/fixtures/spec/<event.type>.json, and what the spec's schema
 * says of each type's top-level `data` keys (which are required, which
 * nullable) to packages/schema/fixtures/spec-meta/shapes.json, for the variants.
 *
 *   node --import tsx packages/schema/scripts/spec-fixtures.ts <voucherify-openapi git dir> [commit]
 *
 * The directory is a clone (bare or not) of voucherifyio/voucherify-openapi;
 * the commit defaults to HEAD. The realistic variants the tests add on top of
 * these (nulls, gaps, extra keys, dates, thin customers, gift and referral
 * cards) are derived in packages/schema/src/testing/variants.ts, so that the
 * fixtures stay the spec's own examples and nothing else.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const SPEC_FILE = 'reference/OpenAPIWebhooks.json';
const OUT_DIR = resolve(import.meta.dirname, '../fixtures/spec');
const SHAPES_FILE = resolve(import.meta.dirname, '../fixtures/spec-meta/shapes.json');

/** The spec's operation key → the `event.type` Voucherify sends (lowercase; two keys are abbreviated in the spec). */
function eventTypeOfKey(key: string): string {
  const name = key.replace(/^EVENTS\./, '').toLowerCase();
  if (name === 'distribution.manual_distribution_schedule') return 'manual_distribution_schedule';
  return name.replace(/^bus_val_rule\./, 'business_validation_rule.');
}

/** Event types only a distribution sends (the distribution webhook page's list); the rest come from project webhooks. */
function isDistributionType(type: string): boolean {
  if (type === 'manual_distribution_schedule') return true;
  if (!type.startsWith('customer.')) return false;
  return !/^customer\.(created|updated|deleted|holder\.assignment\.)/.test(type);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = {
  $ref?: string;
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  nullable?: boolean;
};
type Webhook = {
  post: {
    summary?: string;
    requestBody: { content: { 'application/json': { schema: Schema; examples?: Record<string, { value: Json }> } } };
  };
};

/** The top-level keys of a `data` schema: which are required, which may be null (`$ref`s and `allOf` resolved). */
function shapeOf(schema: Schema, schemas: Record<string, Schema>): { required: string[]; nullable: string[] } {
  const required = new Set<string>();
  const nullable = new Set<string>();
  const visit = (s: Schema): void => {
    if (s.$ref) return visit(schemas[s.$ref.split('/').pop()!]!);
    for (const part of s.allOf ?? []) visit(part);
    for (const key of s.required ?? []) required.add(key);
    for (const [key, prop] of Object.entries(s.properties ?? {})) {
      const target = prop.$ref ? schemas[prop.$ref.split('/').pop()!] : undefined;
      if (prop.nullable || target?.nullable) nullable.add(key);
    }
  };
  visit(schema);
  return { required: [...required].sort(), nullable: [...nullable].sort() };
}

const hex = (seed: string, n: number) => createHash('sha256').update(seed).digest('hex').slice(0, n);

/** The id of the entity the event is about, as Voucherify puts it in `event.entity_id`. */
function entityIdOf(data: { [k: string]: Json }): string | null {
  for (const key of ['customer', 'voucher', 'campaign', 'rule', 'distribution', 'holder']) {
    const v = data[key];
    if (v && typeof v === 'object' && !Array.isArray(v) && typeof v['id'] === 'string') return v['id'];
  }
  return null;
}

function wrap(type: string, summary: string, data: { [k: string]: Json }): { [k: string]: Json } {
  const distribution = isDistributionType(type);
  const created = '2024-01-24T08:28:37.786Z';
  return {
    id: `whs_${hex(`whs ${type}`, 18)}`,
    project_id: 'proj_5T4Rpl4T1nuM',
    created_at: created,
    // A distribution's `type` is the name its author typed; a project webhook's is the event name.
    type: distribution ? summary : type,
    data,
    source: distribution
      ? { id: 'distr_9Lq0Rz3KcTnWYb', object: 'distribution', target_url: 'https://hooks.example.com/webhooks/voucherify' }
      : { id: 'wh_0d2f1c9a8b7e6d5c4b', object: 'webhook', target_url: 'https://hooks.example.com/webhooks/voucherify' },
    event: {
      id: `ev${distribution ? 'cus' : 'prj'}_${hex(`event ${type}`, 18)}`,
      type,
      created_at: created,
      entity_id: entityIdOf(data),
      group_id: `v-${hex(`group ${type}`, 18)}`,
      event_source: { channel: 'API', api_key: { name: 'shop backend', app_id: 'e3a6f1b2-5c4d-4e8f-9a0b-1c2d3e4f5a6b' } },
    },
  };
}

function main(): void {
  const [dir, commit = 'HEAD'] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: spec-fixtures.ts <voucherify-openapi git dir> [commit]');
    process.exit(2);
  }
  const resolved = execFileSync('git', ['-C', dir, 'rev-parse', `${commit}^{commit}`], { encoding: 'utf8' }).trim();
  const spec = JSON.parse(
    execFileSync('git', ['-C', dir, 'show', `${resolved}:${SPEC_FILE}`], { encoding: 'utf8', maxBuffer: 64 << 20 }),
  ) as {
    info: { version: string };
    components: { schemas: Record<string, Schema> };
    webhooks: Record<string, Webhook>;
  };
  const shapes: Record<string, { required: string[]; nullable: string[] }> = {};
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  mkdirSync(dirname(SHAPES_FILE), { recursive: true });
  let written = 0;
  for (const [key, hook] of Object.entries(spec.webhooks)) {
    const content = hook.post.requestBody.content['application/json'];
    const examples = Object.values(content.examples ?? {});
    const type = eventTypeOfKey(key);
    shapes[type] = shapeOf(content.schema, spec.components.schemas);
    examples.forEach(({ value }, i) => {
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${key}: example ${i} is not an object`);
      const file = examples.length === 1 ? `${type}.json` : `${type}.${i + 1}.json`;
      writeFileSync(join(OUT_DIR, file), `${JSON.stringify(wrap(type, hook.post.summary ?? type, value), null, 2)}\n`);
      written++;
    });
  }
  writeFileSync(SHAPES_FILE, `${JSON.stringify({ commit: resolved, version: spec.info.version, shapes }, null, 2)}\n`);
  console.log(
    `spec ${resolved} (webhooks version ${spec.info.version}): ${Object.keys(spec.webhooks).length} webhooks, ${written} fixtures in ${OUT_DIR}`,
  );
}

main();
