//! The business glossary: terms a steward defines ("customer churn"), their synonyms in any
//! language ("attrition", "evasão"), and the datasets and columns that implement them. Terms
//! are part of a catalog version: a load or an admin edit writes them with the datasets, and
//! a rollback rolls them back too.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::relationships::Names;
use super::{Catalog, InvalidCatalog, Problems};

/// One business term.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Term {
    pub name: String,
    pub definition: Option<String>,
    /// Other ways people say it, in any language.
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// What implements the term: `dataset` or `dataset.column`.
    #[serde(default)]
    pub links: Vec<String>,
    pub owner: Option<String>,
}

impl Term {
    /// The term's name, then its synonyms: every phrase that means it.
    pub fn phrases(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.synonyms.iter().map(String::as_str))
    }
}

/// Where a file stated a term (to report a bad one at its line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermSite {
    pub term: String,
    pub file: String,
    pub line: u64,
}

/// A term's link, resolved: the dataset's ordinal and, for a column link, the column's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TermLink {
    pub dataset: u32,
    pub column: Option<u32>,
}

/// Longest phrase of a term, in words (longer ones are not matched in questions).
pub const MAX_PHRASE_WORDS: usize = 6;
/// Longest term name, synonym or link, in characters.
const MAX_PHRASE_CHARS: usize = 200;
/// Longest definition, in characters.
const MAX_DEFINITION_CHARS: usize = 4000;

/// Resolves a link (`dataset` or `dataset.column`; dataset names may contain dots, so the
/// whole text is tried as a dataset first).
fn resolve_link(names: &Names<'_>, link: &str) -> Option<TermLink> {
    if let Some(dataset) = names.dataset(link) {
        return Some(TermLink {
            dataset,
            column: None,
        });
    }
    let (name, column) = link.trim().rsplit_once('.')?;
    let dataset = names.dataset(name)?;
    Some(TermLink {
        dataset,
        column: Some(names.column(dataset, column)?),
    })
}

impl Catalog {
    /// Resolves a link (`dataset` or `dataset.column`, case-insensitively; dataset names may
    /// contain dots, so the whole text is tried as a dataset first).
    pub fn resolve_term_link(&self, link: &str) -> Option<TermLink> {
        resolve_link(&Names::new(self), link)
    }

    /// The resolved links of every term (unresolvable ones left out), by term ordinal.
    pub fn term_links(&self) -> Vec<Vec<TermLink>> {
        let names = Names::new(self);
        self.terms
            .iter()
            .map(|t| {
                t.links
                    .iter()
                    .filter_map(|l| resolve_link(&names, l))
                    .collect()
            })
            .collect()
    }

    /// Removes the links that resolve to nothing from the terms not named in `checked`
    /// (lowercase names); returns how many.
    pub fn drop_dangling_term_links(&mut self, checked: &HashSet<String>) -> usize {
        let mut dropped = 0;
        let mut terms = std::mem::take(&mut self.terms);
        let names = Names::new(self);
        for term in &mut terms {
            if checked.contains(&term.name.trim().to_lowercase()) {
                continue;
            }
            let before = term.links.len();
            term.links.retain(|l| resolve_link(&names, l).is_some());
            dropped += before - term.links.len();
        }
        self.terms = terms;
        dropped
    }

    /// The term named `name` (case-insensitively).
    pub fn term(&self, name: &str) -> Option<&Term> {
        self.terms
            .iter()
            .find(|t| t.name.trim().eq_ignore_ascii_case(name.trim()))
    }
}

/// Checks the glossary against the catalog: every term has a name, no two share one, every
/// text is within bounds, and every link names a dataset or column that exists. `sites`
/// says where a file stated each term; terms without one (the admin API) are reported under
/// `origin`, at line 0.
pub fn check_glossary(
    catalog: &Catalog,
    sites: &[TermSite],
    origin: &str,
) -> Result<(), InvalidCatalog> {
    let mut problems = Problems::default();
    let names = Names::new(catalog);
    let mut seen: HashSet<String> = HashSet::new();
    for (i, term) in catalog.terms.iter().enumerate() {
        let site = sites
            .iter()
            .find(|s| s.term.trim().eq_ignore_ascii_case(term.name.trim()));
        let (file, line) = site.map_or((origin, 0), |s| (s.file.as_str(), s.line));
        let name = term.name.trim();
        if name.is_empty() {
            problems.add(
                file,
                line,
                Some("term"),
                format!("term {} has no name", i + 1),
            );
            continue;
        }
        if !seen.insert(name.to_lowercase()) {
            problems.add(
                file,
                line,
                Some("term"),
                format!("term `{name}` is defined twice"),
            );
        }
        for phrase in term.phrases() {
            let words = phrase.split_whitespace().count();
            if phrase.chars().count() > MAX_PHRASE_CHARS || words > MAX_PHRASE_WORDS {
                problems.add(
                    file,
                    line,
                    Some("synonyms"),
                    format!(
                        "`{}…` is too long (at most {MAX_PHRASE_WORDS} words, \
                         {MAX_PHRASE_CHARS} characters)",
                        phrase.chars().take(40).collect::<String>()
                    ),
                );
            }
            if phrase.trim().is_empty() {
                problems.add(
                    file,
                    line,
                    Some("synonyms"),
                    format!("term `{name}` has an empty synonym"),
                );
            }
        }
        if term
            .definition
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DEFINITION_CHARS)
        {
            problems.add(
                file,
                line,
                Some("definition"),
                format!(
                    "the definition of `{name}` is longer than {MAX_DEFINITION_CHARS} characters"
                ),
            );
        }
        for link in &term.links {
            if resolve_link(&names, link).is_none() {
                problems.add(
                    file,
                    line,
                    Some("links"),
                    format!(
                        "`{}` (on term {name}): no such dataset or column",
                        link.trim()
                    ),
                );
            }
        }
    }
    problems.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, Dataset};

    fn catalog(terms: Vec<Term>) -> Catalog {
        let mut d = Dataset::new("crm.customer_churn_scores");
        d.columns.push(Column {
            name: "churn_probability".into(),
            ..Column::default()
        });
        Catalog {
            datasets: vec![d],
            terms,
        }
    }

    fn term(name: &str, links: &[&str]) -> Term {
        Term {
            name: name.into(),
            links: links.iter().map(|l| l.to_string()).collect(),
            ..Term::default()
        }
    }

    #[test]
    fn links_resolve_to_datasets_with_dots_and_to_their_columns() {
        let c = catalog(Vec::new());
        assert_eq!(
            c.resolve_term_link("CRM.customer_churn_scores"),
            Some(TermLink {
                dataset: 0,
                column: None
            })
        );
        assert_eq!(
            c.resolve_term_link("crm.customer_churn_scores.churn_probability"),
            Some(TermLink {
                dataset: 0,
                column: Some(0)
            })
        );
        assert_eq!(c.resolve_term_link("crm.customer_churn_scores.nope"), None);
        assert_eq!(c.resolve_term_link("crm"), None);
    }

    #[test]
    fn a_bad_glossary_is_rejected_at_its_line() {
        let c = catalog(vec![
            term("churn", &["crm.customer_churn_scores"]),
            term("Churn", &[]),
            term("ghost", &["crm.nothing_here"]),
        ]);
        let sites = vec![TermSite {
            term: "ghost".into(),
            file: "glossary.csv".into(),
            line: 4,
        }];
        let err = check_glossary(&c, &sites, "the glossary").unwrap_err();
        assert_eq!(err.total_problems, 2, "{err}");
        assert!(err.problems[0].message.contains("defined twice"));
        let ghost = &err.problems[1];
        assert_eq!((ghost.file.as_str(), ghost.line), ("glossary.csv", 4));
        assert!(ghost.message.contains("crm.nothing_here"));
    }

    #[test]
    fn a_good_glossary_passes() {
        let c = catalog(vec![term(
            "customer churn",
            &["crm.customer_churn_scores.churn_probability"],
        )]);
        assert!(check_glossary(&c, &[], "the glossary").is_ok());
    }
}
