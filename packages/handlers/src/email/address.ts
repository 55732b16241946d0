/**
 * Why an address from a payload (or from the customer API) is not used. Each
 * is a label of `vouchflow_email_skipped_total{reason}`.
 */
export const ADDRESS_REFUSALS = {
  empty: 'the e-mail address is empty',
  too_long: 'the e-mail address is longer than 254 characters',
  control_character: 'the e-mail address contains a control character',
  whitespace: 'the e-mail address contains whitespace',
  list: 'the e-mail address is a list of addresses',
  display_name: 'the e-mail address carries a display name, angle brackets, quotes or a comment',
  malformed: 'the e-mail address is not one plain address (local-part@domain)',
} as const;
export type AddressRefusal = keyof typeof ADDRESS_REFUSALS;

export type AddressCheck = { address: string; refused?: undefined } | { address?: undefined; refused: AddressRefusal };

// The WHATWG "valid e-mail address" (what <input type="email"> accepts): one
// local part of atext and dots, one @, one domain of LDH labels. No quoted
// local parts, no comments, no IP literals: nothing nodemailer could read as
// a second recipient or a header break.
const PLAIN_ADDRESS =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const WHITESPACE = /[\s\u200b\ufeff]/;

/**
 * One plain address, or why not. nodemailer reads a recipient string as an
 * address list (`a@x, b@y`, `Name <a@x>`, header breaks), so a payload that
 * names its own recipient must be exactly one address, untrimmed: whatever
 * is not is refused rather than repaired.
 */
export function plainAddress(value: string): AddressCheck {
  if (value.length === 0) return { refused: 'empty' };
  if (CONTROL.test(value)) return { refused: 'control_character' };
  if (/[,;]/.test(value)) return { refused: 'list' };
  if (/[<>"()]/.test(value)) return { refused: 'display_name' };
  if (WHITESPACE.test(value)) return { refused: 'whitespace' };
  if (value.length > 254) return { refused: 'too_long' };
  if (!PLAIN_ADDRESS.test(value)) return { refused: 'malformed' };
  return { address: value };
}

/**
 * A header value built from payload data (the subject): control characters,
 * line breaks included, become spaces, so no value can start a header of its own.
 */
// eslint-disable-next-line no-control-regex -- see CONTROL
export const headerValue = (value: string): string => value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
