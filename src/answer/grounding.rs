//! The grounding check: an LLM reply may name only datasets and columns that were in its
//! context (retrieved, visible to the caller). Unknown names are dropped from the structured
//! list; answer text naming them is rejected.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::retrieval::Snapshot;

/// The reply contract of DESIGN.md.
#[derive(Debug, Clone, Deserialize)]
pub struct LlmReply {
    pub answer: String,
    #[serde(default)]
    pub datasets: Vec<LlmDataset>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LlmDataset {
    pub dataset: String,
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Parses the model's text as the reply contract (tolerating a Markdown code fence).
pub fn parse_reply(text: &str) -> Option<LlmReply> {
    let trimmed = text.trim();
    let start = trimmed.find('{')?;
    let end = trimmed.rfind('}')?;
    if end < start {
        return None;
    }
    let reply: LlmReply = serde_json::from_str(&trimmed[start..=end]).ok()?;
    (!reply.answer.trim().is_empty()).then_some(reply)
}

/// A grounded dataset: its ordinal, the known columns the model named, its reason.
#[derive(Debug, Clone)]
pub struct GroundedDataset {
    pub dataset: u32,
    pub columns: Vec<u32>,
    pub reason: Option<String>,
}

#[derive(Debug, Default)]
pub struct Grounded {
    pub datasets: Vec<GroundedDataset>,
    pub dropped_datasets: usize,
    pub dropped_columns: usize,
}

/// Keeps only the datasets of `reply` that were in the context, and their real columns.
pub fn ground(reply: &LlmReply, snapshot: &Snapshot, context_datasets: &[u32]) -> Grounded {
    let allowed: HashMap<String, u32> = context_datasets
        .iter()
        .filter_map(|&o| snapshot.dataset(o).map(|d| (d.name.to_lowercase(), o)))
        .collect();
    let mut out = Grounded::default();
    let mut seen = HashSet::new();
    for item in &reply.datasets {
        let Some(&ordinal) = allowed.get(&item.dataset.trim().to_lowercase()) else {
            out.dropped_datasets += 1;
            out.dropped_columns += item.columns.len();
            continue;
        };
        if !seen.insert(ordinal) {
            continue;
        }
        let Some(dataset) = snapshot.dataset(ordinal) else {
            continue;
        };
        let mut columns = Vec::new();
        for name in &item.columns {
            // Models sometimes qualify columns with their dataset.
            let bare = name
                .trim()
                .strip_prefix(&format!("{}.", dataset.name))
                .unwrap_or(name.trim());
            match dataset
                .columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(bare))
            {
                Some(i) if !columns.contains(&(i as u32)) => columns.push(i as u32),
                Some(_) => {}
                None => out.dropped_columns += 1,
            }
        }
        out.datasets.push(GroundedDataset {
            dataset: ordinal,
            columns,
            reason: item
                .reason
                .as_ref()
                .map(|r| r.chars().take(300).collect::<String>())
                .filter(|r| !r.trim().is_empty()),
        });
    }
    out
}

/// Identifier-like tokens of a text: words with an inner `_` or `.` (`crm.orders`,
/// `churn_probability`), lowercased.
pub fn identifiers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<String>| {
        let token = current.trim_matches(|c| c == '.' || c == '_');
        let inner = token.contains('_') || token.contains('.');
        if inner && token.chars().any(char::is_alphabetic) {
            out.push(token.to_lowercase());
        }
        current.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' || c == '.' {
            current.push(c);
        } else {
            flush(&mut current, &mut out);
        }
    }
    flush(&mut current, &mut out);
    out
}

/// The identifiers the context allows the answer to mention.
pub struct AllowedNames {
    names: HashSet<String>,
}

impl AllowedNames {
    pub fn from_context(context: &str) -> AllowedNames {
        AllowedNames {
            names: identifiers(context).into_iter().collect(),
        }
    }

    /// Whether an identifier (lowercased) appears in the context, alone or as
    /// `<dataset>.<column>` of two names that do.
    pub fn allows(&self, identifier: &str) -> bool {
        if self.names.contains(identifier) {
            return true;
        }
        identifier.match_indices('.').any(|(i, _)| {
            self.names.contains(&identifier[..i]) && self.names.contains(&identifier[i + 1..])
        })
    }

    /// The identifiers of `text` the context does not contain.
    pub fn unknown_in(&self, text: &str) -> Vec<String> {
        identifiers(text)
            .into_iter()
            .filter(|i| !self.allows(i))
            .collect()
    }
}

/// Pulls the value of the `"answer"` string out of a JSON reply as it streams in, so answer
/// tokens can be forwarded before the whole reply has arrived.
#[derive(Default)]
pub struct AnswerExtractor {
    raw: String,
    /// Byte position in `raw` where the answer's characters start, once found.
    start: Option<usize>,
    pos: usize,
    done: bool,
}

impl AnswerExtractor {
    /// Feeds a chunk of the reply; returns the newly decoded answer text.
    pub fn push(&mut self, chunk: &str) -> String {
        self.raw.push_str(chunk);
        let mut out = String::new();
        if self.done {
            return out;
        }
        if self.start.is_none() {
            let Some(key) = self.raw.find("\"answer\"") else {
                return out;
            };
            let rest = &self.raw[key + 8..];
            let trimmed = rest.trim_start();
            let Some(after_colon) = trimmed.strip_prefix(':') else {
                return out;
            };
            let value = after_colon.trim_start();
            let Some(_) = value.strip_prefix('"') else {
                return out;
            };
            let start = self.raw.len() - value.len() + 1;
            self.start = Some(start);
            self.pos = start;
        }
        let bytes = self.raw.as_bytes();
        while self.pos < bytes.len() {
            match bytes[self.pos] {
                b'"' => {
                    self.done = true;
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    let Some(&next) = bytes.get(self.pos + 1) else {
                        break; // wait for the rest of the escape
                    };
                    let (decoded, len) = match next {
                        b'n' => (Some('\n'), 2),
                        b't' => (Some('\t'), 2),
                        b'r' => (Some('\r'), 2),
                        b'b' | b'f' => (Some(' '), 2),
                        b'u' => {
                            let Some(hex) = self.raw.get(self.pos + 2..self.pos + 6) else {
                                break;
                            };
                            (
                                u32::from_str_radix(hex, 16).ok().and_then(char::from_u32),
                                6,
                            )
                        }
                        other => (Some(other as char), 2),
                    };
                    if let Some(c) = decoded {
                        out.push(c);
                    }
                    self.pos += len;
                }
                _ => {
                    let Some(c) = self.raw[self.pos..].chars().next() else {
                        break;
                    };
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        out
    }

    /// Everything received so far.
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

/// Forwards answer text word by word, and stops for good at the first identifier the
/// context does not contain, so an invented name is never sent.
pub struct WordGate<'a> {
    allowed: &'a AllowedNames,
    pending: String,
    pub tainted: bool,
}

impl<'a> WordGate<'a> {
    pub fn new(allowed: &'a AllowedNames) -> WordGate<'a> {
        WordGate {
            allowed,
            pending: String::new(),
            tainted: false,
        }
    }

    /// Text safe to send now.
    pub fn push(&mut self, text: &str) -> String {
        if self.tainted {
            return String::new();
        }
        self.pending.push_str(text);
        let Some(cut) = self.pending.rfind(char::is_whitespace) else {
            return String::new();
        };
        let cut = cut + self.pending[cut..].chars().next().map_or(1, char::len_utf8);
        let ready: String = self.pending[..cut].to_string();
        self.pending.drain(..cut);
        self.release(ready)
    }

    /// The rest, at the end of the stream.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.release(rest)
    }

    fn release(&mut self, text: String) -> String {
        if self.tainted || !self.allowed.unknown_in(&text).is_empty() {
            self.tainted = true;
            return String::new();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fenced_and_plain_replies() {
        let r = parse_reply("```json\n{\"answer\": \"x\", \"datasets\": []}\n```").unwrap();
        assert_eq!(r.answer, "x");
        assert!(parse_reply("Sure! churn is in crm").is_none());
        assert!(parse_reply("{\"datasets\": []}").is_none());
        assert!(parse_reply("{\"answer\": \"\"}").is_none());
    }

    #[test]
    fn finds_identifiers() {
        assert_eq!(
            identifiers("Use crm.customer_churn_scores (churn_probability). Done. 0.5 v2"),
            ["crm.customer_churn_scores", "churn_probability"]
        );
    }

    #[test]
    fn allowed_names_accept_context_names_and_qualified_columns() {
        let allowed = AllowedNames::from_context("### dataset: crm.churn\n- churn_probability: p");
        assert!(allowed.allows("crm.churn"));
        assert!(allowed.allows("crm.churn.churn_probability"));
        assert_eq!(
            allowed.unknown_in("see hr.salaries and crm.churn"),
            ["hr.salaries"]
        );
    }

    #[test]
    fn extracts_the_answer_across_chunks_and_escapes() {
        let mut x = AnswerExtractor::default();
        let mut out = String::new();
        for chunk in [
            "{\"ans",
            "wer\": \"Use \\\"crm",
            ".churn\\\" \\u00e9",
            "\\n ok\", \"datasets\": []}",
        ] {
            out.push_str(&x.push(chunk));
        }
        assert_eq!(out, "Use \"crm.churn\" é\n ok");
    }

    #[test]
    fn word_gate_stops_at_unknown_names() {
        let allowed = AllowedNames::from_context("crm.churn");
        let mut gate = WordGate::new(&allowed);
        let mut sent = gate.push("Use crm.churn and ");
        sent.push_str(&gate.push("hr.salaries too "));
        sent.push_str(&gate.finish());
        assert_eq!(sent, "Use crm.churn and ");
        assert!(gate.tainted);
    }
}
