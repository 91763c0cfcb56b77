//! Synonyms the question log suggests. When questions that failed (no visible result, or low
//! confidence) keep using a word the catalog does not have, and the people who asked them
//! then found a dataset helpful (a vote on the same question, or on their next question
//! within a few minutes), the word is proposed as a synonym: of the glossary term linked to
//! that dataset, or else as a tag of the dataset. A steward accepts or rejects it.

use std::collections::{BTreeSet, HashMap};

use sha2::{Digest, Sha256};

use super::{PENDING, SYNONYM};
use crate::index::Boosts;
use crate::retrieval::query::is_identifier;
use crate::retrieval::{QueryPlan, Snapshot};
use crate::store::{ProposalRecord, QuestionLogEntry, VoteEvent};
use crate::text::fold;

/// Days of the question log looked at.
pub const WINDOW_DAYS: i64 = 30;
/// Failed questions that must use a word before it is suggested.
pub const MIN_QUESTIONS: usize = 2;
/// How long after a failed question a helpful vote by the same caller counts for it.
const FOLLOW_UP_MS: i64 = 15 * 60 * 1000;
/// Questions kept as evidence per suggestion.
const EVIDENCE_QUESTIONS: usize = 5;

/// One suggested synonym.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// The word, as people typed it (lowercase).
    pub word: String,
    pub dataset: String,
    /// The glossary term linked to the dataset (`None`: the word becomes a tag).
    pub term: Option<String>,
    /// Failed questions that used the word.
    pub questions: Vec<String>,
    /// Helpful votes for the dataset that followed them.
    pub votes: usize,
}

impl Suggestion {
    /// The proposal: its id is fixed by what it proposes, so it is stored once.
    pub fn into_record(self, now_ms: i64) -> ProposalRecord {
        let identity = format!(
            "{}\u{0}{}\u{0}{}",
            self.word,
            self.dataset.to_lowercase(),
            self.term.as_deref().unwrap_or("").to_lowercase()
        );
        let id = format!(
            "s_{}",
            &hex::encode(Sha256::digest(identity.as_bytes()))[..16]
        );
        let confidence =
            (0.3 + 0.1 * self.questions.len() as f64 + 0.1 * self.votes as f64).min(0.95);
        let evidence = serde_json::json!({
            "questions": self.questions,
            "votes": self.votes,
        });
        ProposalRecord {
            id,
            kind: SYNONYM.into(),
            dataset: self.dataset,
            column_name: None,
            term: self.term,
            text: self.word,
            current_text: None,
            confidence,
            model: None,
            evidence: Some(evidence.to_string()),
            status: PENDING.into(),
            created_at_ms: now_ms,
            reviewed_by: None,
            reviewed_at_ms: None,
            version: None,
        }
    }
}

#[derive(Default)]
struct Evidence {
    questions: BTreeSet<String>,
    votes: BTreeSet<(i64, String)>,
    spelled: String,
}

/// The suggestions of `questions` (any order) and `votes` against the catalog of `snapshot`;
/// `understand` is the search's query understanding (which words of a question count).
pub fn synonyms(
    snapshot: &Snapshot,
    questions: &[QuestionLogEntry],
    votes: &[VoteEvent],
    low_confidence: f32,
    understand: impl Fn(&str) -> QueryPlan,
) -> Vec<Suggestion> {
    let helpful: Vec<&VoteEvent> = votes.iter().filter(|v| v.helpful > 0).collect();
    let mut lacking: HashMap<String, bool> = HashMap::new();
    let mut found: HashMap<(String, String), Evidence> = HashMap::new();
    let boosts = Boosts::default();
    for q in questions {
        let failed = q.top_datasets.is_empty() || q.confidence < f64::from(low_confidence);
        if !failed {
            continue;
        }
        let followed: Vec<&VoteEvent> = helpful
            .iter()
            .copied()
            .filter(|v| {
                v.question_key == q.question_key
                    || (v.key_id == q.key_id
                        && v.at_ms >= q.at_ms
                        && v.at_ms <= q.at_ms + FOLLOW_UP_MS)
            })
            .collect();
        if followed.is_empty() {
            continue;
        }
        for word in understand(&q.question).keywords {
            if is_identifier(&word)
                || word.chars().count() < 3
                || word.chars().all(|c| c.is_numeric())
            {
                continue;
            }
            let key = fold(&word);
            let lacks = *lacking.entry(key.clone()).or_insert_with(|| {
                let plan = understand(&word);
                let matches = snapshot
                    .lexical
                    .search_datasets(&plan.lexical, None, &boosts)
                    .map(|m| m.is_empty())
                    .unwrap_or(false);
                matches && snapshot.glossary.matches(&word).is_empty()
            });
            if !lacks {
                continue;
            }
            for v in &followed {
                let Some(ordinal) = snapshot.ordinal(&v.dataset) else {
                    continue;
                };
                let Some(dataset) = snapshot.dataset(ordinal) else {
                    continue;
                };
                let e = found
                    .entry((key.clone(), dataset.name.clone()))
                    .or_default();
                if e.spelled.is_empty() {
                    e.spelled = word.to_lowercase();
                }
                e.questions.insert(q.question.clone());
                e.votes.insert((v.at_ms, v.question_key.clone()));
            }
        }
    }
    let mut out: Vec<Suggestion> = found
        .into_iter()
        .filter(|(_, e)| e.questions.len() >= MIN_QUESTIONS)
        .filter_map(|((_, dataset), e)| {
            let ordinal = snapshot.ordinal(&dataset)?;
            let term = snapshot
                .glossary
                .of_dataset(ordinal)
                .first()
                .and_then(|(t, _)| snapshot.catalog.terms.get(*t as usize))
                .map(|t| t.name.clone());
            Some(Suggestion {
                word: e.spelled,
                dataset,
                term,
                votes: e.votes.len(),
                questions: e.questions.into_iter().take(EVIDENCE_QUESTIONS).collect(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.questions
            .len()
            .cmp(&a.questions.len())
            .then(b.votes.cmp(&a.votes))
            .then(a.word.cmp(&b.word))
    });
    out
}
