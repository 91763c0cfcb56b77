//! Query-language detection, measured on question sets whose language is known: our
//! word-list detector, whatlang alone (a maintained statistical detector, restricted to
//! Portuguese and English), and what the service uses (whatlang from four words up, the word
//! list below).
//!
//! ```sh
//! cargo run --release --example language_detectors -- \
//!   --pt ../shared/eval/questions/spider_dev_pt.jsonl \
//!   --en ../shared/eval/questions/spider_dev_pt_source.jsonl
//! ```
//!
//! Prints, per file, the share each detector gets right and its time per question.

use std::io::BufRead;
use std::time::Instant;

use anyhow::Context;
use descoberta::retrieval::Language;
use descoberta::retrieval::query::{detect_by_words, detect_language};
use whatlang::{Detector, Lang};

fn questions(path: &str) -> anyhow::Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("a line of {path}"))?;
        if let Some(q) = value["question"].as_str() {
            out.push(q.to_string());
        }
    }
    Ok(out)
}

/// The words as the query understanding splits them.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
                .to_string()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sets: Vec<(Language, String)> = Vec::new();
    for pair in args.chunks(2) {
        match pair {
            [flag, path] if flag == "--pt" => sets.push((Language::Portuguese, path.clone())),
            [flag, path] if flag == "--en" => sets.push((Language::English, path.clone())),
            _ => anyhow::bail!("usage: language_detectors (--pt FILE | --en FILE)..."),
        }
    }
    let detector = Detector::with_allowlist(vec![Lang::Por, Lang::Eng]);
    println!(
        "| questions | language | n | word list: right | whatlang: right | service: right | word list µs | whatlang µs |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (expected, path) in &sets {
        let qs = questions(path)?;
        let started = Instant::now();
        let ours: Vec<Language> = qs.iter().map(|q| detect_by_words(&words(q))).collect();
        let ours_us = started.elapsed().as_secs_f64() * 1e6 / qs.len().max(1) as f64;
        let started = Instant::now();
        // No answer from whatlang counts as English, our default.
        let theirs: Vec<Language> = qs
            .iter()
            .map(|q| match detector.detect_lang(q) {
                Some(Lang::Por) => Language::Portuguese,
                _ => Language::English,
            })
            .collect();
        let theirs_us = started.elapsed().as_secs_f64() * 1e6 / qs.len().max(1) as f64;
        let service: Vec<Language> = qs.iter().map(|q| detect_language(&words(q))).collect();
        let right = |found: &[Language]| {
            100.0 * found.iter().filter(|l| *l == expected).count() as f64 / qs.len().max(1) as f64
        };
        let name = std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| path.clone());
        println!(
            "| {name} | {} | {} | {:.1}% | {:.1}% | {:.1}% | {ours_us:.2} | {theirs_us:.2} |",
            expected.code(),
            qs.len(),
            right(&ours),
            right(&theirs),
            right(&service)
        );
    }
    Ok(())
}
