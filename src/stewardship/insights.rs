//! Insights over the question log and the votes: questions per day by mode, the share with
//! no visible result or low confidence, latency, votes, top questions and datasets, and the
//! gaps groups. What the admin page `/admin/insights` charts.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::governance::GapGroup;
use crate::store::{QuestionLogEntry, VoteEvent};

const DAY_MS: i64 = 86_400_000;
/// Rows of the top tables.
const TOP: usize = 10;

/// The range looked at: whole UTC days, `days` of them, the last one today.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: i64,
    pub to: i64,
    pub days: i64,
}

/// The start of the UTC day of `ms`.
pub fn day_start(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS) * DAY_MS
}

fn date(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// One day of the range.
#[derive(Debug, Clone, Default, Serialize, PartialEq, ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub llm: usize,
    pub extractive: usize,
    pub search: usize,
    pub no_result: usize,
    pub low_confidence: usize,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub helpful: usize,
    pub not_helpful: usize,
}

/// The whole range.
#[derive(Debug, Clone, Default, Serialize, PartialEq, ToSchema)]
pub struct Totals {
    pub questions: usize,
    pub asks: usize,
    pub searches: usize,
    /// Shares of all questions (0..1).
    pub no_result_share: f64,
    pub low_confidence_share: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub helpful: usize,
    pub not_helpful: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct CountedQuestion {
    pub question: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct CountedDataset {
    pub dataset: String,
    pub count: usize,
}

/// A gaps group as the page shows it.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Gap {
    pub label: String,
    pub questions: Vec<String>,
    pub count: usize,
    pub no_result: usize,
    pub low_confidence: usize,
    pub suggested_datasets: Vec<String>,
}

/// Pending proposals in the review queue.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Pending {
    pub descriptions: usize,
    pub synonyms: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Insights {
    pub days: i64,
    pub from: String,
    pub to: String,
    pub per_day: Vec<Day>,
    pub totals: Totals,
    pub top_questions: Vec<CountedQuestion>,
    pub top_datasets: Vec<CountedDataset>,
    pub gaps: Vec<Gap>,
    pub pending: Pending,
}

/// The `q`-quantile (0..1) of sorted `values`, nearest rank.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some((sorted[rank - 1] * 10.0).round() / 10.0)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Computes the insights of `window` from its questions and votes.
pub fn compute(
    window: Window,
    questions: &[QuestionLogEntry],
    votes: &[VoteEvent],
    gaps: Vec<GapGroup>,
    low_confidence: f32,
    (descriptions, synonyms): (usize, usize),
) -> Insights {
    let days = window.days.max(1) as usize;
    let first = day_start(window.from);
    let mut per_day: Vec<Day> = (0..days)
        .map(|i| Day {
            date: date(first + i as i64 * DAY_MS),
            ..Day::default()
        })
        .collect();
    let index = |ms: i64| -> Option<usize> {
        let i = (ms - first).div_euclid(DAY_MS);
        (0..days as i64).contains(&i).then_some(i as usize)
    };
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); days];
    let mut totals = Totals::default();
    let mut asked: HashMap<String, (String, usize)> = HashMap::new();
    let mut found: HashMap<String, usize> = HashMap::new();
    let low = f64::from(low_confidence);
    for q in questions {
        let Some(i) = index(q.at_ms) else {
            continue;
        };
        let day = &mut per_day[i];
        totals.questions += 1;
        match (q.source.as_str(), q.mode.as_str()) {
            ("ask", "llm") => {
                day.llm += 1;
                totals.asks += 1;
            }
            ("ask", _) => {
                day.extractive += 1;
                totals.asks += 1;
            }
            _ => {
                day.search += 1;
                totals.searches += 1;
            }
        }
        if q.top_datasets.is_empty() {
            day.no_result += 1;
        } else if q.confidence < low {
            day.low_confidence += 1;
        }
        latencies[i].push(q.latency_ms);
        let key = q.question.trim().to_lowercase();
        let entry = asked.entry(key).or_insert_with(|| (q.question.clone(), 0));
        entry.1 += 1;
        if let Some(top) = q.top_datasets.first() {
            *found.entry(top.clone()).or_default() += 1;
        }
    }
    for v in votes {
        let Some(i) = index(v.at_ms) else {
            continue;
        };
        if v.helpful > 0 {
            per_day[i].helpful += 1;
            totals.helpful += 1;
        } else {
            per_day[i].not_helpful += 1;
            totals.not_helpful += 1;
        }
    }
    for (day, values) in per_day.iter_mut().zip(&latencies) {
        let values = sorted(values.clone());
        day.p50_ms = quantile(&values, 0.5);
        day.p95_ms = quantile(&values, 0.95);
    }
    let all = sorted(latencies.concat());
    totals.p50_ms = quantile(&all, 0.5);
    totals.p95_ms = quantile(&all, 0.95);
    if totals.questions > 0 {
        let n = totals.questions as f64;
        let no_result: usize = per_day.iter().map(|d| d.no_result).sum();
        let low: usize = per_day.iter().map(|d| d.low_confidence).sum();
        totals.no_result_share = no_result as f64 / n;
        totals.low_confidence_share = low as f64 / n;
    }
    let mut top_questions: Vec<CountedQuestion> = asked
        .into_values()
        .map(|(question, count)| CountedQuestion { question, count })
        .collect();
    top_questions.sort_by(|a, b| b.count.cmp(&a.count).then(a.question.cmp(&b.question)));
    top_questions.truncate(TOP);
    let mut top_datasets: Vec<CountedDataset> = found
        .into_iter()
        .map(|(dataset, count)| CountedDataset { dataset, count })
        .collect();
    top_datasets.sort_by(|a, b| b.count.cmp(&a.count).then(a.dataset.cmp(&b.dataset)));
    top_datasets.truncate(TOP);
    let gaps = gaps
        .into_iter()
        .map(|g| {
            let mut questions = vec![g.example.clone()];
            questions.extend(g.variants);
            Gap {
                label: g.example,
                questions,
                count: g.asked,
                no_result: g.no_result,
                low_confidence: g.low_confidence,
                suggested_datasets: g.top_datasets,
            }
        })
        .collect();
    Insights {
        days: window.days,
        from: date(first),
        to: date(window.to),
        per_day,
        totals,
        top_questions,
        top_datasets,
        gaps,
        pending: Pending {
            descriptions,
            synonyms,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(
        at_ms: i64,
        source: &str,
        mode: &str,
        top: &[&str],
        confidence: f64,
        latency: f64,
    ) -> QuestionLogEntry {
        QuestionLogEntry {
            at_ms,
            source: source.into(),
            question: format!("q{}", top.len()),
            question_key: String::new(),
            key_id: None,
            top_datasets: top.iter().map(|s| s.to_string()).collect(),
            confidence,
            mode: mode.into(),
            latency_ms: latency,
        }
    }

    #[test]
    fn days_modes_shares_latency_and_votes() {
        let today = day_start(1_764_547_200_000 + 5 * DAY_MS);
        let window = Window {
            from: today - DAY_MS,
            to: today + 1000,
            days: 2,
        };
        let questions = vec![
            q(today + 10, "ask", "llm", &["a.b"], 0.9, 100.0),
            q(today + 20, "ask", "extractive", &[], 0.0, 10.0),
            q(today - 10, "search", "search", &["a.b"], 0.1, 4.0),
            q(today - 3 * DAY_MS, "search", "search", &["a.b"], 0.9, 4.0),
        ];
        let votes = vec![VoteEvent {
            at_ms: today + 30,
            dataset: "a.b".into(),
            question_key: String::new(),
            helpful: 1,
            key_id: None,
        }];
        let out = compute(window, &questions, &votes, Vec::new(), 0.35, (2, 1));
        assert_eq!(out.per_day.len(), 2);
        let (yesterday, now) = (&out.per_day[0], &out.per_day[1]);
        assert_eq!((yesterday.search, yesterday.low_confidence), (1, 1));
        assert_eq!(
            (now.llm, now.extractive, now.no_result, now.helpful),
            (1, 1, 1, 1)
        );
        assert_eq!(now.p50_ms, Some(10.0));
        assert_eq!(now.p95_ms, Some(100.0));
        assert_eq!(
            out.totals.questions, 3,
            "the question outside the window is left out"
        );
        assert!((out.totals.no_result_share - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(out.top_datasets[0].count, 2);
        assert_eq!(out.pending.descriptions, 2);
        assert_eq!(out.from, date(today - DAY_MS));
    }
}
