//! Which new questions are read twice (`embedding.e5_questions = "cascade"`): every question
//! in the catalog's language is read first by the fast encoder, and the ones whose ranking is
//! among the least sure of the recent questions are read again by the full model and ranked
//! anew ([`super::search::Searcher::search_in`]).
//!
//! "Least sure" is by the ranking's [`super::Ranked::sureness`] (its confidence before the
//! bound at 1, which most questions reach on a large catalog: 394 of 400 on the 1M-column
//! benchmark's), and a share of the recent questions, not a fixed level: sureness lies on a
//! scale that differs by catalog (its lexical part follows the index's scores), while its
//! order among one catalog's questions does not. Measured with `descoberta eval` on the
//! English dev sets (2026-12-07, README "The cascade"), the questions the fast encoder ranks
//! worse than the full model gather among its least sure: 5 of Spider's 8 are in its least
//! sure 13%.

use std::collections::VecDeque;
use std::sync::Mutex;

/// How many recent questions the share is taken over.
const WINDOW: usize = 256;

/// Before this many questions, every one is read again (no order to place it in yet).
pub const FIRST: usize = 16;

/// Decisions remembered: a question asked again is ranked as it was the first time.
const DECISIONS: u64 = 20_000;

/// The sureness of recent questions, and what was decided for each question asked.
pub struct Cascade {
    /// The share of new questions read again (`embedding.cascade_share`; 0.2 by default,
    /// chosen on the English dev sets: complete@15 97.3 / 99.3 on Spider / BIRD, the full
    /// model's, where reading none again gives 96.3 / 98.5 and a tenth 96.8 / 99.3).
    share: f32,
    recent: Mutex<VecDeque<f32>>,
    decided: moka::sync::Cache<String, bool>,
}

impl Cascade {
    pub fn new(share: f32) -> Cascade {
        Cascade {
            share,
            recent: Mutex::new(VecDeque::with_capacity(WINDOW)),
            decided: moka::sync::Cache::new(DECISIONS),
        }
    }

    /// Whether `question` was read again in full when it was first asked (`None`: not yet
    /// decided, or forgotten).
    pub fn decided(&self, question: &str) -> Option<bool> {
        self.decided.get(question)
    }

    /// Whether `question`, whose fast ranking has `sureness`, is read again in full: when at
    /// most the share of the recent questions were as unsure or less (every one of the first
    /// [`FIRST`], none with a share of 0). Remembered for `question`, and `sureness` joins the
    /// recent ones.
    pub fn decide(&self, question: String, sureness: f32) -> bool {
        let again = {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            let again = self.share > 0.0
                && (recent.len() < FIRST || {
                    let as_unsure = recent.iter().filter(|&&c| c <= sureness).count();
                    as_unsure as f32 <= self.share * recent.len() as f32
                });
            if recent.len() == WINDOW {
                recent.pop_front();
            }
            recent.push_back(sureness);
            again
        };
        self.decided.insert(question, again);
        again
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARE: f32 = 0.2;

    #[test]
    fn the_first_questions_are_all_read_again() {
        let cascade = Cascade::new(SHARE);
        for i in 0..FIRST {
            assert!(cascade.decide(format!("q{i}"), 1.0), "question {i}");
        }
        assert!(!cascade.decide(String::from("sure"), 1.0));
    }

    #[test]
    fn the_least_sure_share_of_recent_questions_is_read_again() {
        let cascade = Cascade::new(SHARE);
        // A full window spread evenly over 0..1.
        for i in 0..WINDOW {
            cascade.decide(format!("w{i}"), i as f32 / WINDOW as f32);
        }
        // In the window's least sure fifth: again. Past it, or tied with every one: not.
        assert!(cascade.decide(String::from("unsure"), 0.05));
        assert!(cascade.decide(String::from("near the edge"), 0.18));
        assert!(!cascade.decide(String::from("past the edge"), 0.25));
        assert!(!cascade.decide(String::from("middling"), 0.5));
        assert!(!cascade.decide(String::from("sure"), 1.0));
        // Of a stream spread evenly, about the share is read again.
        let again = (0..1000)
            .filter(|i| cascade.decide(format!("s{i}"), ((i * 37) % 1000) as f32 / 1000.0))
            .count();
        let expected = SHARE * 1000.0;
        assert!(
            (again as f32 - expected).abs() < 0.05 * 1000.0,
            "{again} of 1000 read again, expected about {expected}"
        );
    }

    #[test]
    fn a_share_of_0_reads_none_again_and_of_1_all() {
        let (none, all) = (Cascade::new(0.0), Cascade::new(1.0));
        for i in 0..2 * WINDOW {
            let sureness = (i % 7) as f32;
            assert!(!none.decide(format!("q{i}"), sureness), "question {i}");
            assert!(all.decide(format!("q{i}"), sureness), "question {i}");
        }
    }

    #[test]
    fn a_question_asked_again_keeps_its_first_decision() {
        let cascade = Cascade::new(SHARE);
        assert_eq!(cascade.decided("q"), None);
        assert!(cascade.decide(String::from("q"), 0.1));
        // Many surer and less sure questions later, the decision stands.
        for i in 0..WINDOW {
            cascade.decide(format!("w{i}"), 0.01);
        }
        assert_eq!(cascade.decided("q"), Some(true));
        assert!(!cascade.decide(String::from("r"), 0.5));
        assert_eq!(cascade.decided("r"), Some(false));
    }
}
