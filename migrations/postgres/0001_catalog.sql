-- Catalog versions: every load writes a complete new version; one row points at the active one.
CREATE TABLE IF NOT EXISTS store_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS catalog_versions (
    id BIGSERIAL PRIMARY KEY,
    created_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    source TEXT NOT NULL,
    source_hash TEXT,
    dataset_count BIGINT NOT NULL,
    column_count BIGINT NOT NULL,
    note TEXT
);

CREATE TABLE IF NOT EXISTS active_version (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    version_id BIGINT NOT NULL REFERENCES catalog_versions (id),
    activated_at_ms BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS datasets (
    version_id BIGINT NOT NULL REFERENCES catalog_versions (id) ON DELETE CASCADE,
    ordinal BIGINT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    owner TEXT,
    domain TEXT,
    location TEXT,
    sensitivity TEXT NOT NULL,
    tags TEXT NOT NULL,
    allowed_groups TEXT NOT NULL,
    properties TEXT NOT NULL,
    PRIMARY KEY (version_id, ordinal)
);

CREATE TABLE IF NOT EXISTS columns (
    version_id BIGINT NOT NULL,
    dataset_ordinal BIGINT NOT NULL,
    ordinal BIGINT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    data_type TEXT,
    tags TEXT NOT NULL,
    properties TEXT NOT NULL,
    PRIMARY KEY (version_id, dataset_ordinal, ordinal),
    FOREIGN KEY (version_id, dataset_ordinal) REFERENCES datasets (version_id, ordinal) ON DELETE CASCADE
);
