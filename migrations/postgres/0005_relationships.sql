-- Relationships: each column's references (foreign keys, as `dataset.column`, JSON list) and
-- each dataset's lineage (the datasets it is derived from, JSON list), per version.
ALTER TABLE columns ADD COLUMN refs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE datasets ADD COLUMN lineage TEXT NOT NULL DEFAULT '[]';
