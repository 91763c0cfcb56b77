-- When a version was first made active (NULL: never, e.g. a load interrupted before its switch).
ALTER TABLE catalog_versions ADD COLUMN activated_at_ms BIGINT;
UPDATE catalog_versions SET activated_at_ms = created_at_ms
    WHERE id IN (SELECT version_id FROM active_version);

-- Who did what to the catalog, and how it went.
CREATE TABLE IF NOT EXISTS audit_log (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    version BIGINT,
    outcome TEXT NOT NULL,
    detail TEXT
);
