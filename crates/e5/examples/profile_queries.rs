//! Embeds questions one at a time on one thread, for a profiler (`perf record -g`):
//! `cargo run --release -p descoberta-e5 --example profile_queries -- MODEL QUESTIONS.jsonl [REPS]`
//! prints the mean token count and the p50 / p90 latency. MODEL is an e5 file, or the
//! directory of the USE companion (its questions have no prefix).
use std::time::Instant;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: profile_queries MODEL.bin QUESTIONS.jsonl [REPS]";
    let model_path = args.next().context(usage)?;
    let questions_path = args.next().context(usage)?;
    let reps: usize = match args.next() {
        Some(r) => r.parse().context("REPS must be a number")?,
        None => 3,
    };
    let path = std::path::Path::new(&model_path);
    // A question's token count and its vector.
    type Embed = Box<dyn Fn(&str) -> anyhow::Result<(usize, Vec<Vec<f32>>)>>;
    let model: Embed = if path.is_dir() {
        let m = descoberta_e5::UseModel::load(path)?;
        Box::new(move |q| Ok((m.token_ids(q).len(), m.embed(&[q], 1)?)))
    } else {
        let m = descoberta_e5::E5Model::load(path)?;
        Box::new(move |q| {
            let q = format!("{}{q}", descoberta_e5::QUERY_PREFIX);
            Ok((m.token_count(&q), m.embed(&[q.as_str()], 1)?))
        })
    };
    let text = std::fs::read_to_string(&questions_path)
        .with_context(|| format!("reading {questions_path}"))?;
    // The "question" string of each JSON line (a plain scan: the example has no JSON parser).
    let questions: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find("\"question\"")? + 10..];
            let a = rest.find('"')? + 1;
            let b = rest[a..].find('"')? + a;
            Some(rest[a..b].to_string())
        })
        .collect();
    anyhow::ensure!(!questions.is_empty(), "no questions in {questions_path}");
    let mut times = Vec::new();
    let mut tokens = 0usize;
    for _ in 0..reps.max(1) {
        for q in &questions {
            let started = Instant::now();
            let (n, v) = model(q)?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
            tokens += n;
            std::hint::black_box(v);
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{} queries, mean tokens {:.1}, p50 {:.2} ms, p90 {:.2} ms",
        times.len(),
        tokens as f64 / times.len() as f64,
        times[times.len() / 2],
        times[times.len() * 9 / 10]
    );
    Ok(())
}
