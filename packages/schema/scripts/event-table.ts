/**
 * The table of every event type in packages/schema/README.md, made from the
 * codecs and EVENT_IDENTITY so it cannot drift from them: its group, its
 * once-only key, its ordering time and the keys of `data` it carries. A test
 * holds README.md to it; after changing a codec, run
 *
 *   node --import tsx packages/schema/scripts/event-table.ts
 *
 * and paste the output between the table markers in README.md.
 */
import type * as t from 'io-ts';
import { dataKeysOf, EVENT_DATA, EVENT_GROUPS, EVENT_IDENTITY, type EventType } from '../src/index.js';

function keyOf(type: EventType): string {
  const rule = EVENT_IDENTITY[type].key;
  if (rule === 'event') return '`event.id`';
  const id = `\`data.${rule.subject}.id\``;
  if (!rule.named) return id;
  return rule.version ? `${id} + name + \`@data.${rule.version}\`` : `${id} + name`;
}

function timeOf(type: EventType): string {
  return [...EVENT_IDENTITY[type].at.map((p) => `\`data.${p}\``), '`event.created_at`'].join(', ');
}

function carries(type: EventType): string {
  const { required, optional } = dataKeysOf(EVENT_DATA[type] as t.Mixed);
  return [...required.map((k) => `**${k}**`), ...optional].join(', ');
}

export function eventTable(): string {
  const rows = ['| group | `event.type` | once-only key | ordering time | `data` (**required**) |', '|---|---|---|---|---|'];
  for (const [group, events] of Object.entries(EVENT_GROUPS)) {
    for (const type of Object.keys(events) as EventType[]) {
      rows.push(`| ${group} | \`${type}\` | ${keyOf(type)} | ${timeOf(type)} | ${carries(type)} |`);
    }
  }
  return rows.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(eventTable());
