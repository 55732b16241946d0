/** An id or event the operator named does not exist (any more); the CLI exits 1, the admin API answers 404. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}
