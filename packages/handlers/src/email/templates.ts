import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { headerValue } from './address.js';

/*
 * Templates are plain files: `{{name}}` inserts a value (HTML-escaped in the
 * .html part), `{{#name}}…{{/name}}` keeps its content only when the value is
 * present. Deliberately tiny: no logic in templates, so a marketing person can
 * edit them and a bad edit fails at start, not at 3 a.m.
 */

/** The messages the `email` handler sends, one per kind of event. */
export const TEMPLATE_KINDS = ['points_added', 'points_expired', 'pending_points_added', 'pending_points_activated'] as const;
export type TemplateKind = (typeof TEMPLATE_KINDS)[number];

/** The three parts of a message; each is one file in a templates directory. */
export const TEMPLATE_PARTS = { subject: 'subject.txt', text: 'txt', html: 'html' } as const;
export type TemplatePart = keyof typeof TEMPLATE_PARTS;

/** The values a template can use. Absent ones render empty (and hide their `{{#…}}` section). */
export const TEMPLATE_VALUES = [
  'customer_name',
  'points',
  'balance',
  'total',
  'reason',
  'card_code',
  'campaign',
  'expired_points',
  'pending_points',
  'activates_at',
] as const;
export type TemplateValues = Partial<Record<(typeof TEMPLATE_VALUES)[number], string>>;

export type TemplateSet = Record<TemplateKind, Record<TemplatePart, string>>;

/** Thrown at start when a replacement template is unusable; names the file. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

const wrapHtml = (body: string) =>
  `<!doctype html>\n<html><body style="font-family: sans-serif; line-height: 1.5">\n${body}\n<p style="color:#666">Card {{card_code}}</p>\n</body></html>\n`;

/** The built-in wording. */
export const DEFAULT_TEMPLATES: TemplateSet = {
  points_added: {
    subject: 'You earned {{points}} points',
    text: 'Hi {{customer_name}},\n\nYou earned {{points}} points{{#reason}} ({{reason}}){{/reason}}. Your balance is now {{balance}} points.\n\nCard: {{card_code}}\n',
    html: wrapHtml(
      '<p>Hi {{customer_name}},</p>\n<p>You earned <strong>{{points}} points</strong>{{#reason}} ({{reason}}){{/reason}}. Your balance is now <strong>{{balance}} points</strong>.</p>',
    ),
  },
  points_expired: {
    subject: '{{expired_points}} of your points expired',
    text: 'Hi {{customer_name}},\n\n{{expired_points}} points on your card expired. Your balance is now {{balance}} points.\n\nCard: {{card_code}}\n',
    html: wrapHtml(
      '<p>Hi {{customer_name}},</p>\n<p><strong>{{expired_points}} points</strong> on your card expired. Your balance is now <strong>{{balance}} points</strong>.</p>',
    ),
  },
  pending_points_added: {
    subject: '{{pending_points}} points are on their way',
    text: 'Hi {{customer_name}},\n\n{{pending_points}} points are pending on your card{{#activates_at}} and become available on {{activates_at}}{{/activates_at}}.\n\nCard: {{card_code}}\n',
    html: wrapHtml(
      '<p>Hi {{customer_name}},</p>\n<p><strong>{{pending_points}} points</strong> are pending on your card{{#activates_at}} and become available on {{activates_at}}{{/activates_at}}.</p>',
    ),
  },
  pending_points_activated: {
    subject: 'Your {{points}} pending points are now available',
    text: 'Hi {{customer_name}},\n\nYour {{points}} pending points are now available. Your balance is now {{balance}} points.\n\nCard: {{card_code}}\n',
    html: wrapHtml(
      '<p>Hi {{customer_name}},</p>\n<p>Your <strong>{{points}} pending points</strong> are now available. Your balance is now <strong>{{balance}} points</strong>.</p>',
    ),
  },
};

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);

const SECTION = /\{\{#(\w+)\}\}([\s\S]*?)\{\{\/\1\}\}/g;
const PLACEHOLDER = /\{\{\s*(\w+)\s*\}\}/g;

/** Renders one part. HTML parts escape every value; the subject is kept on one line. */
export function render(template: string, values: TemplateValues, part: TemplatePart): string {
  const get = (name: string) => values[name as keyof TemplateValues] ?? '';
  const out = template
    .replace(SECTION, (_all, name: string, inner: string) => (get(name) ? inner : ''))
    .replace(PLACEHOLDER, (_all, name: string) => (part === 'html' ? escapeHtml(get(name)) : get(name)));
  return part === 'subject' ? headerValue(out).replace(/\s+/g, ' ').trim() : out;
}

/** Refuses a template that uses a value that does not exist, so a typo fails at start. */
function checkNames(template: string, file: string): void {
  for (const match of template.matchAll(/\{\{\s*[#/]?\s*(\w+)\s*\}\}/g)) {
    const name = match[1] ?? '';
    if (!(TEMPLATE_VALUES as readonly string[]).includes(name)) {
      throw new TemplateError(`email template ${file}: unknown value {{${name}}}; known: ${TEMPLATE_VALUES.join(', ')}`);
    }
  }
}

/**
 * The built-ins with any part replaced by `<dir>/<kind>.<subject.txt|txt|html>`
 * (e.g. `points_added.html`). Read once at start.
 */
export function loadTemplates(dir: string | undefined): TemplateSet {
  const set = structuredClone(DEFAULT_TEMPLATES);
  if (dir === undefined) return set;
  if (!existsSync(dir)) throw new TemplateError(`EMAIL_TEMPLATES_DIR: ${dir} does not exist`);
  const files = new Set(readdirSync(dir));
  const known = new Set<string>();
  for (const kind of TEMPLATE_KINDS) {
    for (const [part, suffix] of Object.entries(TEMPLATE_PARTS) as Array<[TemplatePart, string]>) {
      const file = `${kind}.${suffix}`;
      known.add(file);
      if (!files.has(file)) continue;
      const text = readFileSync(join(dir, file), 'utf8');
      checkNames(text, file);
      set[kind][part] = text;
    }
  }
  const strangers = [...files].filter((f) => !known.has(f) && !f.startsWith('.'));
  if (strangers.length > 0) {
    throw new TemplateError(
      `EMAIL_TEMPLATES_DIR: unexpected ${strangers.join(', ')}; expected names like points_added.html (kinds: ${TEMPLATE_KINDS.join(', ')}; parts: subject.txt, txt, html)`,
    );
  }
  return set;
}
