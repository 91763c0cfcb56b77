//! Highlighted snippets: the words of a text that matched the query, wrapped in `<mark>`.
//!
//! The returned snippet is HTML-safe: the text is escaped and only `<mark>`/`</mark>` are added,
//! so a client may insert it as HTML.

use std::collections::{HashMap, HashSet};

use crate::index::analyzer;
use crate::text::split_identifiers;

/// Longest snippet, in characters, before cropping around the first match.
const SNIPPET_CHARS: usize = 180;

/// Reusable highlighter for one query.
pub struct Highlighter {
    en_terms: HashSet<String>,
    pt_terms: HashSet<String>,
    /// Whether a word (as written) matches: the analyzers work word by word, and the words
    /// of a page of results repeat (column names, description words), so each is looked up
    /// once per query (its forms are remembered across searches: [`analyzer::forms`]). At 1M
    /// columns, analysis was two thirds of presenting a page.
    seen: HashMap<String, bool>,
    words: Vec<(usize, usize)>,
}

impl Highlighter {
    pub fn new(en_terms: &[String], pt_terms: &[String]) -> Highlighter {
        Highlighter {
            en_terms: en_terms.iter().cloned().collect(),
            pt_terms: pt_terms.iter().cloned().collect(),
            seen: HashMap::new(),
            words: Vec::new(),
        }
    }

    /// The snippet of `text` with matches marked, or `None` when nothing matched.
    pub fn highlight(&mut self, text: &str) -> Option<String> {
        // The words the analyzers would read (the same split), each marked when one of its
        // analyzed forms is among the query's terms.
        let mut words = std::mem::take(&mut self.words);
        words.clear();
        split_identifiers(text, &mut words);
        let spans: Vec<(usize, usize)> = words
            .iter()
            .copied()
            .filter(|&(from, to)| self.matches(&text[from..to]))
            .collect();
        self.words = words;
        if spans.is_empty() {
            return None;
        }
        Some(render(text, &spans))
    }

    fn matches(&mut self, word: &str) -> bool {
        if let Some(&hit) = self.seen.get(word) {
            return hit;
        }
        let forms = analyzer::forms(word);
        let hit = forms.en.iter().any(|t| self.en_terms.contains(t))
            || forms.pt.iter().any(|t| self.pt_terms.contains(t));
        self.seen.insert(word.to_string(), hit);
        hit
    }
}

fn render(text: &str, spans: &[(usize, usize)]) -> String {
    // Crop long texts to a window that starts a little before the first match.
    let (start, end) = if text.chars().count() > SNIPPET_CHARS {
        let first = spans[0].0;
        let mut start = first.saturating_sub(40);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let end = text[start..]
            .char_indices()
            .nth(SNIPPET_CHARS)
            .map_or(text.len(), |(i, _)| start + i);
        (start, end)
    } else {
        (0, text.len())
    };
    let mut out = String::with_capacity(end - start + 32);
    if start > 0 {
        out.push('…');
    }
    let mut cursor = start;
    for &(from, to) in spans {
        if from < cursor || to > end {
            continue;
        }
        escape_into(&text[cursor..from], &mut out);
        out.push_str("<mark>");
        escape_into(&text[from..to], &mut out);
        out.push_str("</mark>");
        cursor = to;
    }
    escape_into(&text[cursor..end], &mut out);
    if end < text.len() {
        out.push('…');
    }
    out
}

pub fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::tokenizer::TextAnalyzer;

    #[test]
    fn marks_matching_words_and_escapes_the_rest() {
        let mut h = Highlighter::new(&["churn".into()], &[]);
        assert_eq!(
            h.highlight("Customer <b>churn</b> & churned").as_deref(),
            Some("Customer &lt;b&gt;<mark>churn</mark>&lt;/b&gt; &amp; <mark>churned</mark>")
        );
        assert_eq!(h.highlight("orders"), None);
    }

    #[test]
    fn highlights_identifier_parts() {
        let mut h = Highlighter::new(&["probabl".into()], &[]);
        assert_eq!(
            h.highlight("churn_probability").as_deref(),
            Some("churn_<mark>probability</mark>")
        );
    }

    /// Word by word, as remembered, the marks are those of analyzing the whole text.
    #[test]
    fn a_remembered_word_is_marked_as_the_whole_text_analysis_marks_it() {
        let en = ["custom".to_string(), "order".into(), "id".into()];
        let pt = ["pedid".to_string(), "client".into()];
        let texts = [
            "Customer orders: order_id, customerID, HTTPServer and the pedidos dos clientes",
            "ORDERS of a customer; clientes com pedidos",
            "order_items.order_id (the id of an order)",
        ];
        let mut remembered = Highlighter::new(&en, &pt);
        for text in texts.iter().chain(&texts) {
            let mut spans = Vec::new();
            let mut whole = |analyzer: &mut TextAnalyzer, terms: &[String]| {
                for (term, from, to) in analyzer::terms_with_spans(analyzer, text) {
                    if terms.contains(&term) {
                        spans.push((from, to));
                    }
                }
            };
            whole(&mut analyzer::english(), &en);
            whole(&mut analyzer::portuguese(), &pt);
            spans.sort_unstable();
            spans.dedup();
            assert!(!spans.is_empty(), "{text}");
            assert_eq!(
                remembered.highlight(text),
                Some(render(text, &spans)),
                "{text}"
            );
        }
    }

    #[test]
    fn crops_long_text_around_the_match() {
        let text = format!("{} churn {}", "word ".repeat(100), "tail ".repeat(100));
        let mut h = Highlighter::new(&["churn".into()], &[]);
        let snippet = h.highlight(&text).unwrap();
        assert!(snippet.starts_with('…') && snippet.ends_with('…'));
        assert!(snippet.contains("<mark>churn</mark>"));
        assert!(snippet.chars().count() < 260);
    }
}
