-- Embedding vectors of catalog texts, keyed by model and content hash: a reload embeds only
-- what changed. Vectors are little-endian f32 bytes.
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    hash TEXT NOT NULL,
    vector BYTEA NOT NULL,
    PRIMARY KEY (model, hash)
);
