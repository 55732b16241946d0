import * as t from 'io-ts';

/**
 * The top-level keys of an object codec, required ones apart from optional
 * ones: what the README's table lists and what the realistic variants never
 * take away (those a decode needs).
 */
export function dataKeysOf(codec: t.Mixed): { required: string[]; optional: string[] } {
  const out = { required: [] as string[], optional: [] as string[] };
  const visit = (c: t.Mixed): void => {
    if (c instanceof t.IntersectionType) for (const member of c.types as t.Mixed[]) visit(member);
    else if (c instanceof t.InterfaceType) out.required.push(...Object.keys(c.props as t.Props));
    else if (c instanceof t.PartialType) out.optional.push(...Object.keys(c.props as t.Props));
  };
  visit(codec);
  return out;
}
