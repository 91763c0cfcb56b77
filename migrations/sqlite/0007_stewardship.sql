-- The business glossary of each catalog version (JSON list of terms): versioned with the
-- datasets, so a rollback rolls it back too.
ALTER TABLE catalog_versions ADD COLUMN glossary TEXT NOT NULL DEFAULT '[]';

-- Proposals waiting for a steward: LLM-drafted descriptions and suggested synonyms. Never
-- part of the catalog until accepted (which writes a new version).
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    dataset TEXT NOT NULL,
    column_name TEXT,
    term TEXT,
    text TEXT NOT NULL,
    current_text TEXT,
    confidence REAL NOT NULL,
    model TEXT,
    evidence TEXT,
    status TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    reviewed_by TEXT,
    reviewed_at_ms INTEGER,
    version INTEGER
);
CREATE INDEX IF NOT EXISTS proposals_status ON proposals (status, created_at_ms);
