/** ARCHIVE_URL answers but lacks the archive's tables (or a newer migration): the worker refuses to start. */
export class ArchiveSchemaMissingError extends Error {
  override readonly name = 'ArchiveSchemaMissingError';
  constructor(
    readonly pending: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      `the archive at ARCHIVE_URL lacks migrations (${pending.join(', ')}): run \`pnpm ops archive migrate\` with the same ARCHIVE_URL, then start the worker`,
      options,
    );
  }
}
