//! The glossary at query time: which business terms a question uses (by name or synonym, in
//! any language, accents and plurals aside), and the datasets and columns they link to.
//! A steward's link is strong evidence: a question that says "evasão" wants the dataset the
//! steward linked to "customer churn", whatever its words.

use std::collections::HashMap;

use crate::catalog::{Catalog, MAX_PHRASE_WORDS, TermLink};
use crate::text::fold;

/// A term a question uses: the term's ordinal and which of its phrases matched (0: its name,
/// n: its n-th synonym).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TermMatch {
    pub term: u32,
    pub phrase: u32,
}

/// The glossary's phrases, ready to be looked up in questions.
#[derive(Debug, Default)]
pub struct GlossaryIndex {
    /// Normalized word sequence → the terms and phrases it spells.
    phrases: HashMap<Vec<String>, Vec<TermMatch>>,
    longest: usize,
    /// Resolved links, by term.
    links: Vec<Vec<TermLink>>,
}

/// A word as matched: lowercase, accents folded, a plural `s` dropped.
fn normalize(word: &str) -> String {
    let folded = fold(word);
    match folded.strip_suffix('s') {
        Some(stem) if stem.chars().count() >= 3 => stem.to_string(),
        _ => folded,
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(normalize)
        .collect()
}

impl GlossaryIndex {
    pub fn build(catalog: &Catalog) -> GlossaryIndex {
        let mut phrases: HashMap<Vec<String>, Vec<TermMatch>> = HashMap::new();
        let mut longest = 0;
        for (t, term) in catalog.terms.iter().enumerate() {
            for (p, phrase) in term.phrases().enumerate() {
                let key = words(phrase);
                if key.is_empty() || key.len() > MAX_PHRASE_WORDS {
                    continue;
                }
                longest = longest.max(key.len());
                let entry = phrases.entry(key).or_default();
                let found = TermMatch {
                    term: t as u32,
                    phrase: p as u32,
                };
                if !entry.iter().any(|m| m.term == found.term) {
                    entry.push(found);
                }
            }
        }
        GlossaryIndex {
            phrases,
            longest,
            links: catalog.term_links(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.phrases.is_empty()
    }

    /// The terms `text` uses, each once (by its longest matching phrase), in order of
    /// appearance.
    pub fn matches(&self, text: &str) -> Vec<TermMatch> {
        if self.phrases.is_empty() {
            return Vec::new();
        }
        let words = words(text);
        let mut out: Vec<TermMatch> = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let mut step = 1;
            for n in (1..=self.longest.min(words.len() - i)).rev() {
                if let Some(found) = self.phrases.get(&words[i..i + n]) {
                    for m in found {
                        if !out.iter().any(|o| o.term == m.term) {
                            out.push(*m);
                        }
                    }
                    step = n;
                    break;
                }
            }
            i += step;
        }
        out
    }

    /// What term `term` links to.
    pub fn links(&self, term: u32) -> &[TermLink] {
        self.links.get(term as usize).map_or(&[], Vec::as_slice)
    }

    /// The terms linked to `dataset`, each with the linked column, if the link is a column.
    pub fn of_dataset(&self, dataset: u32) -> Vec<(u32, Option<u32>)> {
        let mut out = Vec::new();
        for (t, links) in self.links.iter().enumerate() {
            for link in links.iter().filter(|l| l.dataset == dataset) {
                out.push((t as u32, link.column));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Dataset, Term};

    fn index() -> GlossaryIndex {
        let catalog = Catalog {
            datasets: vec![Dataset::new("crm.customer_churn_scores")],
            terms: vec![
                Term {
                    name: "customer churn".into(),
                    synonyms: vec!["attrition".into(), "evasão".into(), "taxa de evasão".into()],
                    links: vec!["crm.customer_churn_scores".into()],
                    ..Term::default()
                },
                Term {
                    name: "customer".into(),
                    ..Term::default()
                },
            ],
        };
        GlossaryIndex::build(&catalog)
    }

    #[test]
    fn synonyms_match_without_accents_and_in_the_plural() {
        let g = index();
        let found = g.matches("Onde estão os dados de EVASAO?");
        assert_eq!(found, [TermMatch { term: 0, phrase: 2 }]);
        assert_eq!(g.matches("attritions by month")[0].term, 0);
        assert_eq!(g.links(0).len(), 1);
        assert!(g.matches("evasive answers").is_empty());
    }

    #[test]
    fn the_longest_phrase_wins_and_each_term_counts_once() {
        let g = index();
        // "customer churn" is one phrase: "customer" alone does not match inside it.
        assert_eq!(
            g.matches("customer churn and taxa de evasão"),
            [TermMatch { term: 0, phrase: 0 }]
        );
        assert_eq!(g.matches("customers")[0].term, 1);
    }
}
