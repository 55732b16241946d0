/**
 * Turns anything thrown into an Error, once, so the rest of the code can rely
 * on `message` and `stack`. A thrown string or object keeps its text.
 */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new Error(thrown);
  let text: string;
  try {
    text = JSON.stringify(thrown) ?? String(thrown);
  } catch {
    text = String(thrown);
  }
  return new Error(`Non-error value thrown: ${text}`, { cause: thrown });
}
