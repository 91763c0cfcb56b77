//! Glossary files: business terms a steward keeps beside the metadata. A file whose name
//! starts with `glossary` (`glossary.csv`, `glossary.yaml`, `glossary-finance.yml`) holds
//! terms, not datasets.
//!
//! - CSV: a header with `term` (or `name`), and optionally `definition` (or `description`),
//!   `synonyms`, `links` (or `datasets`) and `owner`; lists are `;`-separated.
//! - YAML: `terms:` (or `glossary:`), a list of `{name, definition, synonyms, links, owner}`
//!   where the lists are YAML lists or `;`-separated text.
//!
//! A link is `dataset` or `dataset.column`; whether it exists is checked against the catalog
//! when the load is applied ([`crate::catalog::check_glossary`]), at the term's line.

use std::io::Read;

use serde_yaml_ng::Value;

use crate::catalog::{InvalidCatalog, Problems, Term, TermSite};

/// Whether a file (by its name) is a glossary.
pub fn is_glossary(name: &str) -> bool {
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    file.to_ascii_lowercase().starts_with("glossary")
}

/// The terms of a glossary file and where each is.
pub type ParsedTerms = (Vec<Term>, Vec<TermSite>);

#[derive(Clone, Copy, PartialEq)]
enum Field {
    Term,
    Definition,
    Synonyms,
    Links,
    Owner,
}

fn field(header: &str) -> Option<Field> {
    match header.trim().to_ascii_lowercase().as_str() {
        "term" | "name" => Some(Field::Term),
        "definition" | "description" => Some(Field::Definition),
        "synonyms" | "aliases" => Some(Field::Synonyms),
        "links" | "datasets" | "link" => Some(Field::Links),
        "owner" | "steward" => Some(Field::Owner),
        _ => None,
    }
}

fn split_list(value: &str) -> Vec<String> {
    super::csv::split_list(Some(value))
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// Parses a glossary CSV.
pub fn parse_csv<R: Read>(file: &str, reader: R) -> Result<ParsedTerms, InvalidCatalog> {
    let mut problems = Problems::default();
    let mut csv = ::csv::ReaderBuilder::new()
        .flexible(false)
        .trim(::csv::Trim::All)
        .from_reader(reader);
    let headers = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            problems.add(file, 1, None, format!("unreadable header: {e}"));
            return Err(problems.into_invalid());
        }
    };
    let mut fields = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let h = if i == 0 {
            h.trim_start_matches('\u{feff}')
        } else {
            h
        };
        match field(h) {
            Some(f) => fields.push(Some(f)),
            None if h.trim().is_empty() => fields.push(None),
            None => {
                problems.add(
                    file,
                    1,
                    Some(h),
                    format!(
                        "unknown glossary column `{h}` (expected term, definition, synonyms, \
                         links, owner)"
                    ),
                );
                fields.push(None);
            }
        }
    }
    if !fields.contains(&Some(Field::Term)) {
        problems.add(file, 1, None, "a glossary needs a `term` column");
        return Err(problems.into_invalid());
    }
    let mut terms = Vec::new();
    let mut sites = Vec::new();
    for record in csv.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.add(file, line, None, format!("malformed CSV: {e}"));
                break;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        let mut term = Term::default();
        for (value, f) in record.iter().zip(&fields) {
            match f {
                Some(Field::Term) => term.name = value.trim().to_string(),
                Some(Field::Definition) => term.definition = non_empty(value),
                Some(Field::Synonyms) => term.synonyms = split_list(value),
                Some(Field::Links) => term.links = split_list(value),
                Some(Field::Owner) => term.owner = non_empty(value),
                None => {}
            }
        }
        if term.name.is_empty() {
            problems.add(file, line, Some("term"), "a term needs a name");
            continue;
        }
        sites.push(TermSite {
            term: term.name.clone(),
            file: file.to_string(),
            line,
        });
        terms.push(term);
    }
    problems.into_result()?;
    Ok((terms, sites))
}

/// Parses a glossary YAML file.
pub fn parse_yaml(file: &str, text: &str) -> Result<ParsedTerms, InvalidCatalog> {
    let mut problems = Problems::default();
    let value: Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map_or(0, |l| l.line() as u64);
            problems.add(file, line, None, format!("malformed YAML: {e}"));
            return Err(problems.into_invalid());
        }
    };
    let list = value
        .get("terms")
        .or_else(|| value.get("glossary"))
        .and_then(Value::as_sequence);
    let Some(list) = list else {
        problems.add(file, 1, None, "a glossary file needs a `terms:` list");
        return Err(problems.into_invalid());
    };
    let as_text = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::String(s) => non_empty(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let as_list = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Sequence(items)) => items.iter().filter_map(|i| as_text(Some(i))).collect(),
            Some(Value::String(s)) => split_list(s),
            _ => Vec::new(),
        }
    };
    let mut terms = Vec::new();
    let mut sites = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let name = as_text(item.get("name").or_else(|| item.get("term")));
        let line = line_of(text, name.as_deref()).unwrap_or(0);
        let Some(name) = name else {
            problems.add(
                file,
                line,
                Some("name"),
                format!("term {} needs a name", i + 1),
            );
            continue;
        };
        let term = Term {
            name: name.clone(),
            definition: as_text(item.get("definition").or_else(|| item.get("description"))),
            synonyms: as_list(item.get("synonyms").or_else(|| item.get("aliases"))),
            links: as_list(item.get("links").or_else(|| item.get("datasets"))),
            owner: as_text(item.get("owner").or_else(|| item.get("steward"))),
        };
        sites.push(TermSite {
            term: name,
            file: file.to_string(),
            line,
        });
        terms.push(term);
    }
    problems.into_result()?;
    Ok((terms, sites))
}

/// The 1-based line where `name` first appears as a value (to point at a term).
fn line_of(text: &str, name: Option<&str>) -> Option<u64> {
    let name = name?;
    text.lines()
        .position(|l| l.contains(name) && (l.contains("name") || l.contains("term")))
        .map(|i| i as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_terms_with_lists_and_lines() {
        let text = "term,definition,synonyms,links,owner\n\
                    customer churn,Customers who leave,attrition; evasão ;cancelamento,crm.customer_churn_scores,ana\n\
                    revenue,,,sales.orders.amount,\n";
        let (terms, sites) = parse_csv("glossary.csv", text.as_bytes()).unwrap();
        assert_eq!(terms.len(), 2);
        assert_eq!(terms[0].synonyms, ["attrition", "evasão", "cancelamento"]);
        assert_eq!(terms[0].owner.as_deref(), Some("ana"));
        assert_eq!(terms[1].definition, None);
        assert_eq!(sites[1].line, 3);
    }

    #[test]
    fn csv_without_a_term_column_or_with_an_unknown_one_is_rejected() {
        let err = parse_csv("glossary.csv", "definition,colour\nx,y\n".as_bytes()).unwrap_err();
        assert_eq!(err.total_problems, 2, "{err}");
    }

    #[test]
    fn yaml_terms_take_lists_or_text() {
        let text = "terms:\n  - name: customer churn\n    synonyms: [attrition, evasão]\n    \
                    links: crm.customer_churn_scores; crm.customers\n  - term: revenue\n";
        let (terms, sites) = parse_yaml("glossary.yaml", text).unwrap();
        assert_eq!(terms[0].synonyms, ["attrition", "evasão"]);
        assert_eq!(terms[0].links.len(), 2);
        assert_eq!(terms[1].name, "revenue");
        assert_eq!(sites[1].line, 5);
        assert!(parse_yaml("glossary.yaml", "datasets: []\n").is_err());
    }

    #[test]
    fn glossary_files_are_told_by_name() {
        assert!(is_glossary("metadata/glossary.csv"));
        assert!(is_glossary("Glossary-finance.yml"));
        assert!(!is_glossary("catalog.csv"));
    }
}
