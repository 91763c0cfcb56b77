-- Registered metadata sources (crawled databases, dbt artifacts, YAML dictionaries). The
-- settings are JSON and never hold a secret: a database is named by the environment variable
-- that holds its connection string.
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    config TEXT NOT NULL,
    every_secs BIGINT,
    created_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL
);

-- Every sync of a source: when, by whom, how it went, what it changed.
CREATE TABLE IF NOT EXISTS source_syncs (
    id BIGSERIAL PRIMARY KEY,
    source_id TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    outcome TEXT NOT NULL,
    version BIGINT,
    datasets BIGINT,
    columns BIGINT,
    diff TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS source_syncs_source ON source_syncs (source_id, id);
