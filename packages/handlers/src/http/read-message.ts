/** The `message` of a JSON error body (HubSpot and Voucherify both send one), else the start of the text. */
export async function readErrorMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { message?: unknown; details?: unknown };
    if (typeof body.message === 'string' && body.message) {
      return typeof body.details === 'string' && body.details ? `${body.message}: ${body.details}` : body.message;
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.slice(0, 300) || response.statusText;
}
