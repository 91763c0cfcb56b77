//! `descoberta bench gen`: a realistic synthetic catalog and a question set with gold datasets.
//!
//! Tables are recombined from real catalogs (by default the Spider and BIRD schemas of
//! `../shared/eval` and the demo catalog): each generated dataset takes a real table (name,
//! description, columns) into a business unit (`<unit>_<n>.<table>`), widened with columns
//! drawn from the whole vocabulary to a mix of narrow, medium and wide tables; some
//! descriptions are left out, as in real catalogs. Questions name a unit, the table's
//! subject and one of its columns, with that dataset as gold.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::catalog::{Catalog, Column, Dataset};
use crate::random::Rng;
use crate::sources::{SourceError, parse_files};
use crate::text::split_identifiers;

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Datasets to generate.
    #[arg(long, default_value_t = 20_000)]
    pub datasets: usize,
    /// Columns to generate in all (about).
    #[arg(long, default_value_t = 1_000_000)]
    pub columns: usize,
    /// Questions to generate.
    #[arg(long, default_value_t = 400)]
    pub questions: usize,
    /// Output directory (catalog.csv, questions.jsonl).
    #[arg(long)]
    pub out: PathBuf,
    /// Source catalogs for the vocabulary (default: ../shared/eval/catalogs/*.csv and
    /// metadata/catalog.csv, those that exist).
    #[arg(long)]
    pub source: Vec<PathBuf>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Business units (schemas) tables are placed in.
const UNITS: &[&str] = &[
    "acme", "aurora", "boreal", "cascade", "delta", "ember", "fjord", "granite", "harbor",
    "indigo", "juniper", "kestrel", "lagoon", "meridian", "nimbus", "orchid", "pioneer", "quartz",
    "redwood", "sierra", "tundra", "umber", "vertex", "willow", "xenon", "yucca", "zephyr",
    "atlas", "beacon", "cobalt", "dune", "falcon", "glacier", "horizon", "ivory", "jade",
    "keystone", "lotus", "mesa", "nova", "onyx", "prairie", "quasar", "ridge", "summit", "tidal",
    "unity", "valley", "summit", "wharf",
];

fn default_sources() -> Vec<PathBuf> {
    [
        "../shared/eval/catalogs/spider_union.csv",
        "../shared/eval/catalogs/bird_dev.csv",
        "metadata/catalog.csv",
    ]
    .iter()
    .map(PathBuf::from)
    .filter(|p| p.exists())
    .collect()
}

fn words(identifier: &str) -> String {
    let mut spans = Vec::new();
    split_identifiers(identifier, &mut spans);
    spans
        .iter()
        .map(|&(a, b)| identifier[a..b].to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// A table width from a mix of narrow (most), medium and wide tables.
fn width(rng: &mut Rng) -> f64 {
    let r = rng.below(100);
    (match r {
        0..=69 => 5 + rng.below(26),
        70..=94 => 30 + rng.below(91),
        _ => 120 + rng.below(381),
    }) as f64
}

/// Generated questions: text and gold datasets.
pub(crate) type Questions = Vec<(String, Vec<String>)>;

pub(crate) fn generate(args: &GenArgs) -> anyhow::Result<(Catalog, Questions)> {
    let sources = if args.source.is_empty() {
        default_sources()
    } else {
        args.source.clone()
    };
    anyhow::ensure!(
        !sources.is_empty(),
        "no source catalogs found; pass --source"
    );
    // Each source on its own: they may share table names.
    let mut vocabulary = Vec::new();
    for source in &sources {
        match parse_files(std::slice::from_ref(source), u64::MAX) {
            Ok(c) => vocabulary.extend(c.datasets),
            Err(SourceError::Invalid(i)) => anyhow::bail!("source catalog is invalid: {i}"),
            Err(e) => return Err(e.into()),
        }
    }
    let templates: Vec<&Dataset> = vocabulary
        .iter()
        .filter(|d| !d.columns.is_empty())
        .collect();
    let pool: Vec<&Column> = templates.iter().flat_map(|d| d.columns.iter()).collect();
    anyhow::ensure!(!templates.is_empty(), "source catalogs have no tables");

    let mut rng = Rng::new(args.seed);
    let mut widths: Vec<f64> = (0..args.datasets).map(|_| width(&mut rng)).collect();
    let scale = args.columns as f64 / widths.iter().sum::<f64>().max(1.0);
    for w in &mut widths {
        *w = (*w * scale).round().max(1.0);
    }
    let per_unit = (args.datasets / (UNITS.len() * 4)).max(5);
    let mut names = HashSet::new();
    let mut datasets = Vec::with_capacity(args.datasets);
    for (i, w) in widths.iter().enumerate() {
        let template = templates[rng.below(templates.len())];
        let unit = format!(
            "{}_{}",
            UNITS[(i / per_unit) % UNITS.len()],
            i / (per_unit * UNITS.len())
        );
        let table = template
            .name
            .rsplit_once('.')
            .map_or(template.name.as_str(), |(_, t)| t)
            .to_lowercase();
        let mut name = format!("{unit}.{table}");
        let mut n = 2;
        while !names.insert(name.clone()) {
            name = format!("{unit}.{table}_{n}");
            n += 1;
        }
        let mut dataset = Dataset::new(name);
        if !rng.chance(0.15) {
            dataset.description = template
                .description
                .clone()
                .map(|d| format!("{d} ({} unit)", UNITS[(i / per_unit) % UNITS.len()]));
        }
        dataset.domain = Some(UNITS[(i / per_unit) % UNITS.len()].to_string());
        dataset.owner = Some(format!("team-{}", rng.below(60)));
        let mut seen = HashSet::new();
        let target = *w as usize;
        let mut columns: Vec<Column> = Vec::with_capacity(target);
        let mut next = 0;
        while columns.len() < target {
            let c = match template.columns.get(next) {
                Some(c) => c,
                None => pool[rng.below(pool.len())],
            };
            next += 1;
            let mut column_name = c.name.to_lowercase();
            let mut k = 2;
            while !seen.insert(column_name.clone()) {
                column_name = format!("{}_{k}", c.name.to_lowercase());
                k += 1;
            }
            let description = if rng.chance(0.3) {
                None
            } else {
                c.description.clone()
            };
            columns.push(Column {
                name: column_name,
                description,
                data_type: c.data_type.clone(),
                tags: Vec::new(),
                properties: Default::default(),
                references: Vec::new(),
            });
        }
        dataset.columns = columns;
        datasets.push(dataset);
    }

    let mut questions = Vec::new();
    let mut attempts = 0;
    while questions.len() < args.questions && attempts < args.questions * 20 {
        attempts += 1;
        let d = &datasets[rng.below(datasets.len())];
        let Some(column) = d.columns.iter().take(6).find(|c| c.description.is_some()) else {
            continue;
        };
        let (unit, table) = d.name.split_once('.').unwrap_or(("", &d.name));
        let unit_word = unit.split('_').next().unwrap_or(unit);
        let subject = words(table);
        let detail = column
            .description
            .as_deref()
            .unwrap_or_default()
            .to_lowercase();
        let question = match rng.below(3) {
            0 => format!("Where is the {unit_word} data on {subject} with the {detail}?"),
            1 => format!("Which {unit_word} table has {subject} and their {detail}?"),
            _ => format!("onde estão os dados de {subject} da {unit_word}, com {detail}?"),
        };
        questions.push((question, vec![d.name.clone()]));
    }
    Ok((Catalog::new(datasets), questions))
}

pub(crate) fn write_catalog(catalog: &Catalog, path: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "dataset,column,description,data_type,owner,domain")?;
    for d in &catalog.datasets {
        writeln!(
            out,
            "{},,{},,{},{}",
            csv_field(&d.name),
            csv_field(d.description.as_deref().unwrap_or("")),
            csv_field(d.owner.as_deref().unwrap_or("")),
            csv_field(d.domain.as_deref().unwrap_or(""))
        )?;
        for c in &d.columns {
            writeln!(
                out,
                "{},{},{},{},,",
                csv_field(&d.name),
                csv_field(&c.name),
                csv_field(c.description.as_deref().unwrap_or("")),
                csv_field(c.data_type.as_deref().unwrap_or(""))
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

pub fn run(args: GenArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let (catalog, questions) = generate(&args)?;
    write_catalog(&catalog, &args.out.join("catalog.csv"))?;
    let mut q = std::io::BufWriter::new(std::fs::File::create(args.out.join("questions.jsonl"))?);
    for (question, gold) in &questions {
        writeln!(
            q,
            "{}",
            serde_json::json!({ "question": question, "gold": gold })
        )?;
    }
    q.flush()?;
    println!(
        "generated {} datasets, {} columns, {} questions in {}",
        catalog.datasets.len(),
        catalog.column_count(),
        questions.len(),
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_the_requested_shape() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("s.csv");
        std::fs::write(
            &source,
            "dataset,column,description\na.orders,,Orders\na.orders,id,Order id\na.orders,total,Total amount\n\
             b.people,,People\nb.people,name,Person name\n",
        )
        .unwrap();
        let args = GenArgs {
            datasets: 200,
            columns: 6_000,
            questions: 20,
            out: dir.path().join("out"),
            source: vec![source],
            seed: 7,
        };
        let (catalog, questions) = generate(&args).unwrap();
        assert_eq!(catalog.datasets.len(), 200);
        let columns = catalog.column_count();
        assert!((5_000..7_000).contains(&columns), "{columns}");
        assert_eq!(questions.len(), 20);
        write_catalog(&catalog, &dir.path().join("c.csv")).unwrap();
        let reparsed = parse_files(&[dir.path().join("c.csv")], u64::MAX).unwrap();
        assert_eq!(reparsed.datasets.len(), 200);
        assert_eq!(reparsed.column_count(), columns);
    }
}
