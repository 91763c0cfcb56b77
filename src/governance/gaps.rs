//! The catalog gaps report: questions people asked that the catalog answered badly (nothing
//! visible matched, low retrieval confidence, or a "not helpful" vote), grouped by similar
//! question. Data stewards work from it to add or fix metadata.

use std::collections::HashMap;

use crate::store::{FeedbackCount, QuestionLogEntry};

/// One group of similar questions with problems.
#[derive(Debug, Clone)]
pub struct GapGroup {
    /// The words the questions share (stemmed), which groups them.
    pub key: String,
    /// The most recent question of the group, as asked.
    pub example: String,
    /// Other questions of the group (at most 5).
    pub variants: Vec<String>,
    pub asked: usize,
    /// Asked with no visible result.
    pub no_result: usize,
    /// Asked with low retrieval confidence.
    pub low_confidence: usize,
    /// "Not helpful" votes on the group's questions.
    pub not_helpful: i64,
    /// Datasets most often returned first.
    pub top_datasets: Vec<String>,
    pub last_asked_ms: i64,
}

impl GapGroup {
    fn new(key: &str, example: &str, last_asked_ms: i64) -> GapGroup {
        GapGroup {
            key: key.to_string(),
            example: example.to_string(),
            variants: Vec::new(),
            asked: 0,
            no_result: 0,
            low_confidence: 0,
            not_helpful: 0,
            top_datasets: Vec::new(),
            last_asked_ms,
        }
    }

    fn weight(&self) -> i64 {
        (self.no_result * 3 + self.low_confidence * 2) as i64 + self.not_helpful * 2
    }
}

/// Groups `questions` (newest first) and keeps the groups with a problem, worst first.
pub fn report(
    questions: &[QuestionLogEntry],
    feedback: &[FeedbackCount],
    low_confidence: f32,
    limit: usize,
) -> Vec<GapGroup> {
    let mut groups: HashMap<String, GapGroup> = HashMap::new();
    let mut firsts: HashMap<String, HashMap<String, usize>> = HashMap::new();
    for q in questions {
        let key = if q.question_key.is_empty() {
            q.question.to_lowercase()
        } else {
            q.question_key.clone()
        };
        let group = groups
            .entry(key.clone())
            .or_insert_with(|| GapGroup::new(&key, &q.question, q.at_ms));
        group.asked += 1;
        if q.top_datasets.is_empty() {
            group.no_result += 1;
        } else if q.confidence < f64::from(low_confidence) {
            group.low_confidence += 1;
        }
        if q.question != group.example
            && group.variants.len() < 5
            && !group.variants.contains(&q.question)
        {
            group.variants.push(q.question.clone());
        }
        if let Some(first) = q.top_datasets.first() {
            *firsts
                .entry(key)
                .or_default()
                .entry(first.clone())
                .or_default() += 1;
        }
    }
    for f in feedback {
        if f.down > 0 {
            let group = groups
                .entry(f.question_key.clone())
                .or_insert_with(|| GapGroup::new(&f.question_key, &f.example, 0));
            group.not_helpful += f.down;
        }
    }
    let mut out: Vec<GapGroup> = groups
        .into_values()
        .filter(|g| g.weight() > 0)
        .map(|mut g| {
            if let Some(counts) = firsts.get(&g.key) {
                let mut top: Vec<(&String, &usize)> = counts.iter().collect();
                top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                g.top_datasets = top.into_iter().take(3).map(|(d, _)| d.clone()).collect();
            }
            g
        })
        .collect();
    out.sort_by(|a, b| {
        b.weight()
            .cmp(&a.weight())
            .then(b.last_asked_ms.cmp(&a.last_asked_ms))
    });
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(question: &str, key: &str, top: &[&str], confidence: f64, at_ms: i64) -> QuestionLogEntry {
        QuestionLogEntry {
            at_ms,
            source: "ask".into(),
            question: question.into(),
            question_key: key.into(),
            key_id: None,
            top_datasets: top.iter().map(|s| s.to_string()).collect(),
            confidence,
            mode: "extractive".into(),
            latency_ms: 1.0,
        }
    }

    #[test]
    fn groups_similar_questions_and_keeps_the_problems() {
        let questions = vec![
            q("where is the warranty data?", "warranti", &[], 0.0, 3),
            q("warranty claims", "warranti", &[], 0.0, 2),
            q("customer churn", "churn custom", &["crm.churn"], 0.9, 1),
            q("vague stuff", "stuff vagu", &["x.y"], 0.1, 1),
        ];
        let feedback = vec![FeedbackCount {
            question_key: "churn custom".into(),
            dataset: "crm.churn".into(),
            up: 0,
            down: 2,
            example: "customer churn".into(),
        }];
        let report = report(&questions, &feedback, 0.35, 10);
        assert_eq!(report[0].key, "warranti");
        assert_eq!(report[0].asked, 2);
        assert_eq!(report[0].no_result, 2);
        assert_eq!(report[0].variants, ["warranty claims"]);
        let churn = report.iter().find(|g| g.key == "churn custom").unwrap();
        assert_eq!(churn.not_helpful, 2);
        assert_eq!(churn.top_datasets, ["crm.churn"]);
        assert!(
            report
                .iter()
                .any(|g| g.key == "stuff vagu" && g.low_confidence == 1)
        );
    }
}
