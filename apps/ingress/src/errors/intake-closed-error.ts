/** The ingress is shutting down and takes no more deliveries; answered 503 so that Voucherify retries. */
export class IntakeClosedError extends Error {
  override readonly name = 'IntakeClosedError';
  constructor() {
    super('the ingress is shutting down');
  }
}
