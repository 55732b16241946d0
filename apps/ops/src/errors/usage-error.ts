/** The command line asks for something impossible or unsafe as written; the CLI exits 2 and says what to type instead. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
