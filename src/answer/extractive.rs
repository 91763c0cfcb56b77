//! The extractive answer: deterministic text composed from the retrieved entries, in the
//! question's language. Used when no LLM is configured and whenever the LLM fails.

use crate::retrieval::present::SearchHit;
use crate::retrieval::{Language, Snapshot, Visibility};

/// Words inside `<mark>` of a snippet.
fn marked_words(snippet: &str, out: &mut Vec<String>) {
    let mut rest = snippet;
    while let Some(start) = rest.find("<mark>") {
        let after = &rest[start + 6..];
        let Some(end) = after.find("</mark>") else {
            break;
        };
        let word = after[..end].to_lowercase();
        if !out.contains(&word) {
            out.push(word);
        }
        rest = &after[end + 7..];
    }
}

/// One line on why a dataset was retrieved.
pub fn reason(hit: &SearchHit, language: Language) -> String {
    let mut words = Vec::new();
    let mut fields: Vec<&str> = Vec::new();
    for h in &hit.highlights {
        marked_words(&h.snippet, &mut words);
        let field = match (h.field.as_str(), language) {
            ("name", Language::English) => "name",
            ("name", Language::Portuguese) => "nome",
            ("description", Language::English) => "description",
            ("description", Language::Portuguese) => "descrição",
            ("tags", _) => "tags",
            ("domain", Language::English) => "domain",
            ("domain", Language::Portuguese) => "domínio",
            _ => continue,
        };
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    let columns: Vec<&str> = hit
        .columns
        .iter()
        .filter(|c| !c.highlights.is_empty())
        .map(|c| c.name.as_str())
        .take(3)
        .collect();
    for c in &hit.columns {
        for h in &c.highlights {
            marked_words(&h.snippet, &mut words);
        }
    }
    if words.is_empty() {
        if let Some(related) = &hit.related {
            return related.clone();
        }
        return match language {
            Language::English => "semantically close to the question".into(),
            Language::Portuguese => "semanticamente próximo da pergunta".into(),
        };
    }
    let quoted = words
        .iter()
        .take(4)
        .map(|w| format!("“{w}”"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut places: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    if !columns.is_empty() {
        let label = match language {
            Language::English => "columns",
            Language::Portuguese => "colunas",
        };
        places.push(format!("{label} {}", columns.join(", ")));
    }
    let matched = match language {
        Language::English => format!("matches {quoted} in its {}", join(&places, "and")),
        Language::Portuguese => format!("corresponde a {quoted} em {}", join(&places, "e")),
    };
    match &hit.related {
        Some(related) => format!("{matched}; {related}"),
        None => matched,
    }
}

/// How to join the datasets of an answer: for each of the next datasets (at most two after
/// the first), the shortest path of at most two links (through datasets the caller may see)
/// from one named before it, with the columns to join on.
pub fn join_sentences(
    snapshot: &Snapshot,
    visibility: &Visibility,
    datasets: &[u32],
    language: Language,
) -> Vec<String> {
    let allow = |d: u32| snapshot.is_visible(d, visibility);
    let name = |d: u32| snapshot.dataset(d).map_or("?", |d| d.name.as_str());
    let mut sentences = Vec::new();
    for (i, &target) in datasets.iter().enumerate().skip(1).take(2) {
        let path = datasets[..i]
            .iter()
            .filter_map(|&from| snapshot.links.path(from, target, allow, 2))
            .min_by_key(Vec::len);
        let Some(path) = path else {
            continue;
        };
        let Some(&(start, _)) = path.first() else {
            continue;
        };
        let hops: Vec<String> = path
            .iter()
            .map(|(from, link)| link.join_condition(name(*from), name(link.other)))
            .collect();
        let via: Vec<&str> = path.iter().skip(1).map(|(from, _)| name(*from)).collect();
        sentences.push(match (language, via.is_empty()) {
            (Language::English, true) => format!(
                "To join {} to {}: {}.",
                name(start),
                name(target),
                hops.join(" and ")
            ),
            (Language::English, false) => format!(
                "To join {} to {} (through {}): {}.",
                name(start),
                name(target),
                via.join(", "),
                hops.join(", then ")
            ),
            (Language::Portuguese, true) => format!(
                "Para juntar {} e {}: {}.",
                name(start),
                name(target),
                hops.join(" e ")
            ),
            (Language::Portuguese, false) => format!(
                "Para juntar {} e {} (via {}): {}.",
                name(start),
                name(target),
                via.join(", "),
                hops.join(", depois ")
            ),
        });
    }
    sentences
}

fn join(items: &[String], and: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {and} {last}", rest.join(", ")),
    }
}

/// First sentence of a description, bounded.
fn first_sentence(text: &str) -> String {
    let end = text
        .char_indices()
        .find(|&(i, c)| c == '.' && text[i + 1..].starts_with(' '))
        .map(|(i, _)| i + 1)
        .unwrap_or(text.len());
    let sentence = text[..end].trim();
    if sentence.chars().count() > 220 {
        format!("{}…", sentence.chars().take(220).collect::<String>())
    } else {
        sentence.to_string()
    }
}

/// The answer text for the top hits (at most three are named).
/// `steward`: who to ask when nothing matches (a team or an address), if configured.
pub fn compose(
    hits: &[&SearchHit],
    question: &str,
    language: Language,
    steward: Option<&str>,
    joins: &[String],
) -> String {
    let Some(best) = hits.first() else {
        return match (language, steward) {
            (Language::English, None) => format!(
                "I found no dataset you can see that matches “{}”. Try other words, or a table or column name, or ask your data platform team.",
                question.trim()
            ),
            (Language::English, Some(contact)) => format!(
                "I found no dataset you can see that matches “{}”. Try other words, or a table or column name; for data not in the catalog (or access to it), contact {contact}.",
                question.trim()
            ),
            (Language::Portuguese, None) => format!(
                "Não encontrei nenhum dataset visível para você que corresponda a “{}”. Tente outras palavras, o nome de uma tabela ou coluna, ou fale com o time de plataforma de dados.",
                question.trim()
            ),
            (Language::Portuguese, Some(contact)) => format!(
                "Não encontrei nenhum dataset visível para você que corresponda a “{}”. Tente outras palavras ou o nome de uma tabela ou coluna; para dados fora do catálogo (ou acesso a eles), fale com {contact}.",
                question.trim()
            ),
        };
    };
    let mut text = String::new();
    let mut facts = Vec::new();
    let (owner_label, location_label) = match language {
        Language::English => ("owner", "location"),
        Language::Portuguese => ("responsável", "local"),
    };
    if let Some(owner) = &best.owner {
        facts.push(format!("{owner_label}: {owner}"));
    }
    if let Some(location) = &best.location {
        facts.push(format!("{location_label}: {location}"));
    }
    text.push_str(match language {
        Language::English => "The best match is ",
        Language::Portuguese => "O melhor resultado é ",
    });
    text.push_str(&best.dataset);
    if !facts.is_empty() {
        text.push_str(&format!(" ({})", facts.join("; ")));
    }
    match &best.description {
        Some(d) => {
            let sentence = first_sentence(d);
            text.push_str(": ");
            text.push_str(&sentence);
            if !sentence.ends_with(['.', '!', '?', '…']) {
                text.push('.');
            }
        }
        None => text.push('.'),
    }
    let columns: Vec<&str> = best
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .take(4)
        .collect();
    if !columns.is_empty() {
        text.push_str(match language {
            Language::English => " Relevant columns: ",
            Language::Portuguese => " Colunas relevantes: ",
        });
        text.push_str(&columns.join(", "));
        text.push('.');
    }
    let others: Vec<String> = hits
        .iter()
        .skip(1)
        .take(2)
        .map(|h| {
            let cols: Vec<&str> = h.columns.iter().map(|c| c.name.as_str()).take(2).collect();
            if cols.is_empty() {
                h.dataset.clone()
            } else {
                format!("{} ({})", h.dataset, cols.join(", "))
            }
        })
        .collect();
    if !others.is_empty() {
        text.push_str(match language {
            Language::English => " Also relevant: ",
            Language::Portuguese => " Também relevantes: ",
        });
        text.push_str(&others.join("; "));
        text.push('.');
    }
    for sentence in joins {
        text.push(' ');
        text.push_str(sentence);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Sensitivity;
    use crate::retrieval::present::{Highlight, MatchedColumn};

    fn hit(name: &str) -> SearchHit {
        SearchHit {
            dataset: name.into(),
            description: Some("Daily churn scores. Built by the CRM team.".into()),
            owner: Some("crm-analytics".into()),
            domain: None,
            location: Some("s3://lake/churn/".into()),
            sensitivity: Sensitivity::Internal.into(),
            tags: vec![],
            score: 1.0,
            highlights: vec![Highlight {
                field: "name".into(),
                snippet: "crm.<mark>churn</mark>".into(),
            }],
            related: None,
            glossary: vec![],
            columns: vec![MatchedColumn {
                name: "churn_probability".into(),
                description: None,
                data_type: None,
                score: 1.0,
                highlights: vec![Highlight {
                    field: "name".into(),
                    snippet: "<mark>churn</mark>_probability".into(),
                }],
            }],
        }
    }

    #[test]
    fn names_dataset_columns_owner_and_location() {
        let h = hit("crm.churn");
        let other = hit("crm.segments");
        let text = compose(
            &[&h, &other],
            "where is churn?",
            Language::English,
            None,
            &[],
        );
        assert_eq!(
            text,
            "The best match is crm.churn (owner: crm-analytics; location: s3://lake/churn/): Daily churn scores. Relevant columns: churn_probability. Also relevant: crm.segments (churn_probability)."
        );
        let pt = compose(&[&h], "onde está churn?", Language::Portuguese, None, &[]);
        assert!(
            pt.starts_with("O melhor resultado é crm.churn (responsável: crm-analytics"),
            "{pt}"
        );
    }

    #[test]
    fn explains_why() {
        assert_eq!(
            reason(&hit("crm.churn"), Language::English),
            "matches “churn” in its name and columns churn_probability"
        );
    }

    #[test]
    fn abstains_plainly() {
        let text = compose(&[], "unicorn sightings", Language::English, None, &[]);
        assert!(text.starts_with("I found no dataset"));
        let text = compose(
            &[],
            "x",
            Language::English,
            Some("data-office@acme.example"),
            &[],
        );
        assert!(
            text.ends_with("contact data-office@acme.example."),
            "{text}"
        );
    }
}
