export { ArchivedDelivery, ArchivedOutcome, FinalOutcome, JournalEntry, type ArchivedEvent } from './records.js';
export { createArchiveJournal, journalKey, type ArchiveJournal } from './journal.js';
export { createArchiveStore, type ArchiveStore, type EventQuery } from './store.js';
export { startArchiver, ARCHIVER_GROUP, type Archiver, type ArchiverOptions } from './archiver.js';
export { migrateArchive, pendingArchiveMigrations, MIGRATIONS_DIR, MIGRATIONS_TABLE } from './migrate.js';
