-- API keys: only a hash of each key is kept.
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    groups TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at_ms INTEGER
);

-- Thumbs up/down per (question, dataset).
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    question TEXT NOT NULL,
    question_key TEXT NOT NULL,
    dataset TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    key_id TEXT
);
CREATE INDEX IF NOT EXISTS feedback_question_key ON feedback (question_key);

-- Questions asked: the text and the caller's key id, nothing else about the caller.
CREATE TABLE IF NOT EXISTS question_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    source TEXT NOT NULL,
    question TEXT NOT NULL,
    question_key TEXT NOT NULL,
    key_id TEXT,
    top_datasets TEXT NOT NULL,
    confidence REAL NOT NULL,
    mode TEXT NOT NULL,
    latency_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS question_log_at ON question_log (at_ms);
