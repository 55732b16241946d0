-- Up Migration

-- One row per processed delivery. Partitioned by day on received_at so that
-- retention drops whole partitions (cheap, no vacuum debt) instead of deleting
-- row by row; the archiver creates the partitions it needs before writing.
CREATE TABLE vouchflow_archive_deliveries (
  deployment         text        NOT NULL,
  event_id           text        NOT NULL,
  event_type         text        NOT NULL,
  received_at        timestamptz NOT NULL,
  processed_at       timestamptz NOT NULL,
  archived_at        timestamptz NOT NULL DEFAULT now(),
  body               text        NOT NULL,
  body_sha256        text        NOT NULL,
  headers            jsonb       NOT NULL DEFAULT '{}'::jsonb,
  handlers           text[]      NOT NULL DEFAULT '{}',
  customer_id        text,
  customer_source_id text,
  customer_email     text,
  voucher_code       text,
  transaction_id     text,
  PRIMARY KEY (deployment, event_id, received_at)
) PARTITION BY RANGE (received_at);

-- Rows whose day has no partition yet land here rather than failing the batch.
CREATE TABLE vouchflow_archive_deliveries_default PARTITION OF vouchflow_archive_deliveries DEFAULT;

CREATE INDEX vouchflow_archive_deliveries_customer ON vouchflow_archive_deliveries (deployment, customer_id, received_at DESC);
CREATE INDEX vouchflow_archive_deliveries_source ON vouchflow_archive_deliveries (deployment, customer_source_id, received_at DESC);
CREATE INDEX vouchflow_archive_deliveries_email ON vouchflow_archive_deliveries (deployment, customer_email, received_at DESC);
CREATE INDEX vouchflow_archive_deliveries_code ON vouchflow_archive_deliveries (deployment, voucher_code, received_at DESC);
CREATE INDEX vouchflow_archive_deliveries_transaction ON vouchflow_archive_deliveries (deployment, transaction_id, received_at DESC);

-- Each handler's final outcome for a delivery. Kept apart from the delivery
-- row because several worker processes archive concurrently: an outcome may
-- reach PostgreSQL before its delivery does, and neither may wait for the other.
CREATE TABLE vouchflow_archive_outcomes (
  deployment  text        NOT NULL,
  event_id    text        NOT NULL,
  received_at timestamptz NOT NULL,
  handler     text        NOT NULL,
  outcome     text        NOT NULL,
  reason      text,
  attempts    integer     NOT NULL,
  settled_at  timestamptz NOT NULL,
  PRIMARY KEY (deployment, event_id, received_at, handler)
) PARTITION BY RANGE (received_at);

CREATE TABLE vouchflow_archive_outcomes_default PARTITION OF vouchflow_archive_outcomes DEFAULT;

-- Down Migration

DROP TABLE vouchflow_archive_outcomes;
DROP TABLE vouchflow_archive_deliveries;
