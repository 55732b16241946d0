/** The request is understood but the data is not in a state that allows it (e.g. replaying an event still being processed); the admin API answers 409. */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}
