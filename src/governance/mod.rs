//! Governance: API keys, feedback votes, the question log (with its retention) and the gaps
//! report. The store is the record; this keeps what requests need in memory (active keys by
//! hash, net votes by question) and refreshes it, so replicas agree.

pub mod gaps;
mod question_log;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::clock::now_ms;
use crate::store::GovernanceStore;
pub use crate::store::{ApiKeyRecord, FeedbackEntry, QuestionLogEntry};
pub use gaps::GapGroup;
use question_log::QuestionLog;

/// Net helpful votes by similar question, then by dataset name (lowercase).
pub type VoteTable = HashMap<String, HashMap<String, i64>>;

/// An active API key: its id and groups.
#[derive(Debug, Clone)]
pub struct KeyGrant {
    pub id: String,
    pub groups: Vec<String>,
}

/// Question-log entries examined for the most frequent questions.
const FREQUENT_SCAN: usize = 100_000;

/// `entries` (newest first) grouped by similar question: each group's newest text, the
/// largest groups first (ties: the most recently asked first), at most `limit`.
fn most_frequent(entries: &[QuestionLogEntry], limit: usize) -> Vec<String> {
    // Per key: (count, position of its newest entry).
    let mut groups: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        groups.entry(e.question_key.as_str()).or_insert((0, i)).0 += 1;
    }
    let mut ranked: Vec<(usize, usize)> = groups.into_values().collect();
    ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .take(limit)
        .map(|(_, i)| entries[i].question.clone())
        .collect()
}

/// How often question-log retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

pub struct Governance {
    store: Arc<dyn GovernanceStore>,
    /// Active API keys by hash.
    keys: ArcSwap<HashMap<String, KeyGrant>>,
    votes: Arc<ArcSwap<VoteTable>>,
    questions: QuestionLog,
    retention_days: u64,
    last_retention: Mutex<Option<Instant>>,
}

/// A gaps report.
pub struct GapsReport {
    pub groups: Vec<GapGroup>,
    /// Questions examined.
    pub questions: usize,
}

impl Governance {
    /// Starts the question log's writer, so it needs a Tokio runtime; `dropped` counts the
    /// questions it had no room for.
    pub fn new(
        store: Arc<dyn GovernanceStore>,
        retention_days: u64,
        dropped: prometheus::IntCounter,
    ) -> Governance {
        Governance {
            questions: QuestionLog::start(store.clone(), dropped),
            store,
            keys: ArcSwap::default(),
            votes: Arc::default(),
            retention_days,
            last_retention: Mutex::new(None),
        }
    }

    /// The vote table, shared with retrieval (which reads it as a ranking signal).
    pub fn votes(&self) -> Arc<ArcSwap<VoteTable>> {
        self.votes.clone()
    }

    /// Re-reads the API keys and the feedback from the store (at start, after changes, and
    /// periodically, so replicas agree), and applies question-log retention now and then.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let keys = self
            .store
            .api_keys()
            .await?
            .into_iter()
            .filter(|(record, _)| record.revoked_at_ms.is_none())
            .map(|(record, hash)| {
                let grant = KeyGrant {
                    id: record.id,
                    groups: record.groups,
                };
                (hash, grant)
            })
            .collect();
        self.keys.store(Arc::new(keys));
        let mut votes = VoteTable::new();
        for count in self.store.feedback_counts().await? {
            votes
                .entry(count.question_key)
                .or_default()
                .insert(count.dataset.to_lowercase(), count.up - count.down);
        }
        self.votes.store(Arc::new(votes));
        if self.retention_due() {
            let keep_ms = self.retention_days as i64 * 86_400_000;
            let pruned = self.store.prune_questions(now_ms() - keep_ms).await?;
            if pruned > 0 {
                tracing::info!(pruned, "question log retention applied");
            }
        }
        Ok(())
    }

    fn retention_due(&self) -> bool {
        let mut last = self
            .last_retention
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|t| t.elapsed() > RETENTION_EVERY);
        if due {
            *last = Some(Instant::now());
        }
        due
    }

    /// The active API key with this hash.
    pub fn api_key(&self, hash: &str) -> Option<KeyGrant> {
        self.keys.load().get(hash).cloned()
    }

    /// Logs a question in the background (for the gaps report); never fails the request.
    pub fn log_question(&self, entry: QuestionLogEntry) {
        self.questions.push(entry);
    }

    /// Writes the questions still queued, waiting at most `within` (when the server stops).
    pub async fn flush_question_log(&self, within: Duration) {
        if !self.questions.flush(within).await {
            tracing::warn!(
                "the question log could not be written in time; some questions are lost"
            );
        }
    }

    /// Records a vote and counts it at once.
    pub async fn record_feedback(&self, entry: FeedbackEntry) -> anyhow::Result<()> {
        self.store.record_feedback(&entry).await?;
        self.votes.rcu(|all| {
            let mut all = VoteTable::clone(all);
            *all.entry(entry.question_key.clone())
                .or_default()
                .entry(entry.dataset.to_lowercase())
                .or_default() += if entry.helpful { 1 } else { -1 };
            all
        });
        Ok(())
    }

    /// Stores a new key (given its hash) and makes it usable at once.
    pub async fn create_key(&self, record: &ApiKeyRecord, key_hash: &str) -> anyhow::Result<()> {
        self.store.create_api_key(record, key_hash).await?;
        self.refresh().await
    }

    /// Every key, revoked ones too (never the keys themselves).
    pub async fn keys(&self) -> anyhow::Result<Vec<ApiKeyRecord>> {
        let keys = self.store.api_keys().await?;
        Ok(keys.into_iter().map(|(record, _)| record).collect())
    }

    /// Revokes a key at once; `false` when there is no such active key.
    pub async fn revoke_key(&self, id: &str) -> anyhow::Result<bool> {
        let revoked = self.store.revoke_api_key(id).await?;
        if revoked {
            self.refresh().await?;
        }
        Ok(revoked)
    }

    /// The questions of the last `days` asked most often (by their similar-question key; each
    /// as last asked), most often first, at most `limit`. Examines the newest
    /// [`FREQUENT_SCAN`] entries.
    pub async fn frequent_questions(&self, days: u64, limit: usize) -> anyhow::Result<Vec<String>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let since = now_ms() - days as i64 * 86_400_000;
        let entries = self.store.questions_since(since, FREQUENT_SCAN).await?;
        Ok(most_frequent(&entries, limit))
    }

    /// Questions of the last `days` the catalog answered badly, grouped, worst first.
    pub async fn gaps(
        &self,
        days: u64,
        low_confidence: f32,
        limit: usize,
    ) -> anyhow::Result<GapsReport> {
        let since = now_ms() - days as i64 * 86_400_000;
        let questions = self.store.questions_since(since, 100_000).await?;
        let feedback = self.store.feedback_counts().await?;
        let groups = gaps::report(&questions, &feedback, low_confidence, limit);
        Ok(GapsReport {
            groups,
            questions: questions.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(question: &str, key: &str) -> QuestionLogEntry {
        QuestionLogEntry {
            at_ms: 0,
            source: "search".into(),
            question: question.into(),
            question_key: key.into(),
            key_id: None,
            top_datasets: Vec::new(),
            confidence: 0.5,
            mode: "hybrid".into(),
            latency_ms: 1.0,
        }
    }

    #[test]
    fn the_most_asked_come_first_each_as_last_asked() {
        // Newest first, as the store returns them.
        let entries = [
            entry("Churn?", "churn"),
            entry("orders", "orders"),
            entry("stock", "stock"),
            entry("churn", "churn"),
            entry("orders", "orders"),
            entry("churn!", "churn"),
        ];
        assert_eq!(most_frequent(&entries, 10), ["Churn?", "orders", "stock"]);
        assert_eq!(most_frequent(&entries, 1), ["Churn?"]);
        // Ties: the most recently asked first.
        let tied = [
            entry("b", "b"),
            entry("a", "a"),
            entry("a", "a"),
            entry("b", "b"),
        ];
        assert_eq!(most_frequent(&tied, 2), ["b", "a"]);
        assert!(most_frequent(&[], 5).is_empty());
    }
}
