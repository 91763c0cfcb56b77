//! The peer every retrieval change is measured against: SQLite FTS5 `bm25()` with porter
//! stemming, the embedded store's own full-text search, over one document per dataset
//! (identifiers split into words; name, description, tags, then its columns' names and
//! descriptions), queried with an OR of the question's words. In memory, in the same run.

use std::str::FromStr;

use anyhow::Context;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use crate::catalog::Catalog;
use crate::text::words;

pub struct Fts5Peer {
    pool: SqlitePool,
    names: Vec<String>,
}

impl Fts5Peer {
    /// Indexes `catalog` into an in-memory FTS5 table.
    pub async fn build(catalog: &Catalog) -> anyhow::Result<Fts5Peer> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .context("in-memory SQLite options")?;
        // One connection: an in-memory database lives and dies with its connection.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .context("opening in-memory SQLite")?;
        sqlx::query(
            "CREATE VIRTUAL TABLE docs USING fts5(name, body, tokenize = 'porter unicode61')",
        )
        .execute(&pool)
        .await
        .context("creating the FTS5 table (is FTS5 compiled in?)")?;
        let mut names = Vec::with_capacity(catalog.datasets.len());
        let mut tx = pool.begin().await.context("starting the FTS5 load")?;
        for (rowid, dataset) in catalog.datasets.iter().enumerate() {
            let mut body = vec![
                dataset.description.clone().unwrap_or_default(),
                dataset.tags.join(" "),
            ];
            for column in &dataset.columns {
                body.push(words(&column.name));
                body.push(column.description.clone().unwrap_or_default());
            }
            sqlx::query("INSERT INTO docs (rowid, name, body) VALUES (?, ?, ?)")
                .bind(rowid as i64)
                .bind(words(&dataset.name.replace('.', " ")))
                .bind(body.join(" "))
                .execute(&mut *tx)
                .await
                .context("indexing a dataset into FTS5")?;
            names.push(dataset.name.clone());
        }
        tx.commit().await.context("committing the FTS5 load")?;
        Ok(Fts5Peer { pool, names })
    }

    /// The best `limit` datasets for `question`, best first.
    pub async fn rank(&self, question: &str, limit: usize) -> anyhow::Result<Vec<String>> {
        let Some(query) = match_query(question) else {
            return Ok(Vec::new());
        };
        let rows =
            sqlx::query("SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?")
                .bind(query)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await
                .context("FTS5 query")?;
        Ok(rows
            .iter()
            .filter_map(|row| row.try_get::<i64, _>(0).ok())
            .filter_map(|rowid| self.names.get(usize::try_from(rowid).ok()?).cloned())
            .collect())
    }
}

/// `"how many singers?"` → `"how" OR "many" OR "singers"`: every word quoted, so no word is
/// read as FTS5 syntax.
fn match_query(question: &str) -> Option<String> {
    let terms: Vec<String> = words(question)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"", w.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" OR "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_become_quoted_or_queries() {
        assert_eq!(
            match_query("How many \"singers\" AND NOT x*?").as_deref(),
            Some("\"how\" OR \"many\" OR \"singers\" OR \"and\" OR \"not\" OR \"x\"")
        );
        assert_eq!(match_query(" ?! "), None);
    }
}
