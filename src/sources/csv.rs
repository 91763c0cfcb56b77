//! The metadata CSV parser (format in `metadata/README.md` and DESIGN.md).
//!
//! Parsing streams record by record and validates everything before anything is applied: the
//! result is either a whole [`Catalog`] or every problem found (capped at [`MAX_PROBLEMS`], with
//! the total count), each with its file, line and field.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use crate::catalog::{
    Catalog, CatalogPatch, Column, Dataset, InvalidCatalog, Problems, ReferenceSite, Sensitivity,
    check_references,
};

/// Longest dataset or column name accepted.
const MAX_NAME_CHARS: usize = 512;
/// Longest single field accepted.
const MAX_FIELD_CHARS: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Dataset,
    Column,
    Description,
    DataType,
    Tags,
    Owner,
    Domain,
    Location,
    Sensitivity,
    AllowedGroups,
    References,
    Lineage,
}

fn known_field(header: &str) -> Option<Field> {
    Some(match header {
        "dataset" | "table" | "table_name" | "dataset_name" => Field::Dataset,
        "column" | "column_name" | "field" | "field_name" => Field::Column,
        "description" | "desc" | "comment" => Field::Description,
        "data_type" | "datatype" | "type" | "column_type" => Field::DataType,
        "tags" | "tag" | "labels" => Field::Tags,
        "owner" => Field::Owner,
        "domain" => Field::Domain,
        "location" => Field::Location,
        "sensitivity" | "classification" => Field::Sensitivity,
        "allowed_groups" | "groups" => Field::AllowedGroups,
        "references" | "refs" | "foreign_key" | "foreign_keys" => Field::References,
        "lineage" | "depends_on" | "upstream" => Field::Lineage,
        _ => return None,
    })
}

enum HeaderSlot {
    Known(Field),
    Property(String),
}

/// Counts bytes and stops with an error past the limit, so a huge file never fills memory.
struct LimitedReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.remaining {
            return Err(std::io::Error::other("size limit exceeded"));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// What parsing has built so far, over all files.
#[derive(Default)]
struct State {
    datasets: Vec<Dataset>,
    seen: HashMap<String, Seen>,
    problems: Problems,
    sites: Vec<ReferenceSite>,
}

/// Where a dataset was first defined, to report duplicates.
struct Seen {
    dataset: usize,
    file: usize,
    file_name: String,
    line: u64,
    has_dataset_row: bool,
    explicit_sensitivity: bool,
    columns: HashMap<String, u64>,
}

/// Parses one or more CSV sources (name, reader) into a catalog, all or nothing.
/// `max_bytes` bounds the total size of all sources together.
pub fn parse_catalog<R: Read>(
    sources: impl IntoIterator<Item = (String, R)>,
    max_bytes: u64,
) -> Result<Catalog, InvalidCatalog> {
    let patch = parse_patch(sources, max_bytes)?;
    check_references(&patch.catalog, &patch.reference_sites)?;
    Ok(patch.catalog)
}

/// [`parse_catalog`], saying for each dataset whether the files stated its sensitivity (a
/// merge keeps the current sensitivity of datasets they do not), and where references were
/// stated. References are not checked: in a merge their targets may be in the catalog merged
/// into (the load pipeline checks the result).
pub fn parse_patch<R: Read>(
    sources: impl IntoIterator<Item = (String, R)>,
    max_bytes: u64,
) -> Result<CatalogPatch, InvalidCatalog> {
    parse_with_positions(sources, max_bytes).map(|(patch, _)| patch)
}

/// Where each dataset and column of parsed CSV files was defined, to point at a row later
/// (a curated row that no longer matches its source).
#[derive(Debug, Clone, Default)]
pub struct Positions {
    datasets: HashMap<String, (String, u64)>,
    columns: HashMap<(String, String), u64>,
}

impl Positions {
    /// File and first line of a dataset (`("", 0)` when unknown).
    pub fn dataset(&self, dataset: &str) -> (&str, u64) {
        self.datasets
            .get(&dataset.to_lowercase())
            .map_or(("", 0), |(file, line)| (file.as_str(), *line))
    }

    /// File and line of a column row (the dataset's when unknown).
    pub fn column(&self, dataset: &str, column: &str) -> (&str, u64) {
        let (file, line) = self.dataset(dataset);
        let key = (dataset.to_lowercase(), column.to_lowercase());
        (file, self.columns.get(&key).copied().unwrap_or(line))
    }
}

/// [`parse_patch`], with where each dataset and column was defined.
pub fn parse_with_positions<R: Read>(
    sources: impl IntoIterator<Item = (String, R)>,
    max_bytes: u64,
) -> Result<(CatalogPatch, Positions), InvalidCatalog> {
    let mut state = State::default();
    let mut budget = max_bytes;
    let mut files = 0usize;
    for (file_no, (file, reader)) in sources.into_iter().enumerate() {
        files += 1;
        let mut limited = LimitedReader {
            inner: reader,
            remaining: budget,
        };
        parse_one(&file, file_no, &mut limited, max_bytes, &mut state);
        budget = limited.remaining;
    }
    let State {
        datasets,
        seen,
        mut problems,
        sites,
    } = state;
    if files == 0 {
        problems.add("", 0, None, "no CSV files to load");
    } else if datasets.is_empty() && problems.is_empty() {
        problems.add("", 0, None, "the catalog has no datasets");
    }
    problems.into_result()?;
    let mut sensitivity_declared = vec![false; datasets.len()];
    let mut positions = Positions::default();
    for (key, entry) in seen {
        sensitivity_declared[entry.dataset] = entry.explicit_sensitivity;
        for (column, line) in entry.columns {
            positions.columns.insert((key.clone(), column), line);
        }
        positions
            .datasets
            .insert(key, (entry.file_name, entry.line));
    }
    let patch = CatalogPatch {
        catalog: Catalog::new(datasets),
        sensitivity_declared,
        reference_sites: sites,
        term_sites: Vec::new(),
    };
    Ok((patch, positions))
}

fn parse_one<R: Read>(
    file: &str,
    file_no: usize,
    reader: &mut LimitedReader<R>,
    max_bytes: u64,
    state: &mut State,
) {
    let mut csv = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut record = ::csv::ByteRecord::new();

    // Header.
    let header = match csv.read_byte_record(&mut record) {
        Ok(true) => record.clone(),
        Ok(false) => {
            state
                .problems
                .add(file, 1, None, "file is empty: expected a header row");
            return;
        }
        Err(e) => {
            report_csv_error(file, &e, max_bytes, &mut state.problems);
            return;
        }
    };
    let Some(slots) = parse_header(file, &header, &mut state.problems) else {
        return;
    };
    let header_names: Vec<String> = slots
        .iter()
        .map(|slot| match slot {
            HeaderSlot::Known(f) => format!("{f:?}").to_lowercase(),
            HeaderSlot::Property(name) => name.clone(),
        })
        .collect();

    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                report_csv_error(file, &e, max_bytes, &mut state.problems);
                return;
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
            continue; // blank line
        }
        if record.len() != slots.len() {
            state.problems.add(
                file,
                line,
                None,
                format!(
                    "row has {} fields but the header has {}",
                    record.len(),
                    slots.len()
                ),
            );
            continue;
        }
        let mut row = Row::default();
        let mut row_ok = true;
        for (i, raw) in record.iter().enumerate() {
            let value = match std::str::from_utf8(raw) {
                Ok(v) => v.trim(),
                Err(_) => {
                    state.problems.add(
                        file,
                        line,
                        Some(&header_names[i]),
                        "invalid UTF-8 (files must be UTF-8 encoded)",
                    );
                    row_ok = false;
                    continue;
                }
            };
            if value.chars().count() > MAX_FIELD_CHARS {
                state.problems.add(
                    file,
                    line,
                    Some(&header_names[i]),
                    format!("field longer than {MAX_FIELD_CHARS} characters"),
                );
                row_ok = false;
                continue;
            }
            if value.is_empty() {
                continue;
            }
            match &slots[i] {
                HeaderSlot::Known(field) => row.set(*field, value),
                HeaderSlot::Property(name) => {
                    row.properties.insert(name.clone(), value.to_string());
                }
            }
        }
        if row_ok {
            apply_row(file, file_no, line, row, state);
        }
    }
}

fn report_csv_error(file: &str, error: &::csv::Error, max_bytes: u64, problems: &mut Problems) {
    let line = error.position().map(|p| p.line()).unwrap_or(0);
    match error.kind() {
        ::csv::ErrorKind::Io(io) if io.to_string().contains("size limit") => problems.add(
            file,
            line,
            None,
            format!("input exceeds the size limit of {max_bytes} bytes"),
        ),
        ::csv::ErrorKind::Io(io) => problems.add(file, line, None, format!("read error: {io}")),
        _ => problems.add(file, line, None, format!("malformed CSV: {error}")),
    }
}

fn parse_header(
    file: &str,
    header: &::csv::ByteRecord,
    problems: &mut Problems,
) -> Option<Vec<HeaderSlot>> {
    let mut slots = Vec::with_capacity(header.len());
    let mut ok = true;
    let mut names_seen: HashMap<String, usize> = HashMap::new();
    let mut fields_seen: Vec<Field> = Vec::new();
    for (i, raw) in header.iter().enumerate() {
        let Ok(text) = std::str::from_utf8(raw) else {
            problems.add(
                file,
                1,
                None,
                format!("header {} is not valid UTF-8", i + 1),
            );
            ok = false;
            continue;
        };
        let name = text
            .trim_start_matches('\u{feff}')
            .trim()
            .to_lowercase()
            .replace([' ', '-'], "_");
        if name.is_empty() {
            problems.add(file, 1, None, format!("header {} is empty", i + 1));
            ok = false;
            continue;
        }
        if let Some(first) = names_seen.insert(name.clone(), i) {
            problems.add(
                file,
                1,
                Some(&name),
                format!(
                    "header `{name}` appears twice (columns {} and {})",
                    first + 1,
                    i + 1
                ),
            );
            ok = false;
        }
        match known_field(&name) {
            Some(field) => {
                if fields_seen.contains(&field) {
                    problems.add(
                        file,
                        1,
                        Some(&name),
                        format!("header `{name}` is an alias of a header already given"),
                    );
                    ok = false;
                }
                fields_seen.push(field);
                slots.push(HeaderSlot::Known(field));
            }
            None => slots.push(HeaderSlot::Property(name)),
        }
    }
    if !fields_seen.contains(&Field::Dataset) {
        problems.add(
            file,
            1,
            Some("dataset"),
            "the header has no `dataset` column (aliases: table, table_name)",
        );
        ok = false;
    }
    ok.then_some(slots)
}

#[derive(Default)]
struct Row {
    dataset: Option<String>,
    column: Option<String>,
    description: Option<String>,
    data_type: Option<String>,
    tags: Option<String>,
    owner: Option<String>,
    domain: Option<String>,
    location: Option<String>,
    sensitivity: Option<String>,
    allowed_groups: Option<String>,
    references: Option<String>,
    lineage: Option<String>,
    properties: BTreeMap<String, String>,
}

impl Row {
    fn set(&mut self, field: Field, value: &str) {
        let slot = match field {
            Field::Dataset => &mut self.dataset,
            Field::Column => &mut self.column,
            Field::Description => &mut self.description,
            Field::DataType => &mut self.data_type,
            Field::Tags => &mut self.tags,
            Field::Owner => &mut self.owner,
            Field::Domain => &mut self.domain,
            Field::Location => &mut self.location,
            Field::Sensitivity => &mut self.sensitivity,
            Field::AllowedGroups => &mut self.allowed_groups,
            Field::References => &mut self.references,
            Field::Lineage => &mut self.lineage,
        };
        *slot = Some(value.to_string());
    }
}

pub(super) fn split_list(value: Option<&str>) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for item in value.unwrap_or("").split(';') {
        let item = item.trim();
        if !item.is_empty() && !items.iter().any(|i| i.eq_ignore_ascii_case(item)) {
            items.push(item.to_string());
        }
    }
    items
}

fn check_name(file: &str, line: u64, field: &str, name: &str, problems: &mut Problems) -> bool {
    if name.chars().count() > MAX_NAME_CHARS {
        problems.add(
            file,
            line,
            Some(field),
            format!("name longer than {MAX_NAME_CHARS} characters"),
        );
        return false;
    }
    if name.chars().any(char::is_control) {
        problems.add(file, line, Some(field), "name contains control characters");
        return false;
    }
    true
}

/// The first explicit sensitivity replaces the default; later ones may only tighten it, so a
/// dataset is never exposed more widely because of row order.
fn set_sensitivity(dataset: &mut Dataset, entry: &mut Seen, value: Sensitivity) {
    dataset.sensitivity = if entry.explicit_sensitivity {
        dataset.sensitivity.max(value)
    } else {
        value
    };
    entry.explicit_sensitivity = true;
}

fn apply_row(file: &str, file_no: usize, line: u64, row: Row, state: &mut State) {
    let State {
        datasets,
        seen,
        problems,
        sites,
    } = state;
    let Some(name) = row.dataset.clone() else {
        problems.add(file, line, Some("dataset"), "empty dataset name");
        return;
    };
    let mut ok = check_name(file, line, "dataset", &name, problems);
    if let Some(column) = &row.column {
        ok &= check_name(file, line, "column", column, problems);
    }
    let sensitivity = match row.sensitivity.as_deref() {
        None => None,
        Some(value) => match Sensitivity::parse(value) {
            Some(s) => Some(s),
            None => {
                problems.add(
                    file,
                    line,
                    Some("sensitivity"),
                    format!(
                        "unknown sensitivity `{value}` (expected public, internal, confidential or restricted)"
                    ),
                );
                ok = false;
                None
            }
        },
    };
    if !ok {
        return;
    }

    let key = name.to_lowercase();
    let entry = match seen.get_mut(&key) {
        Some(entry) if entry.file != file_no => {
            problems.add(
                file,
                line,
                Some("dataset"),
                format!(
                    "dataset `{name}` is already defined in {} (line {})",
                    entry.file_name, entry.line
                ),
            );
            return;
        }
        Some(entry) => entry,
        None => {
            datasets.push(Dataset::new(name.clone()));
            seen.entry(key).or_insert(Seen {
                dataset: datasets.len() - 1,
                file: file_no,
                file_name: file.to_string(),
                line,
                has_dataset_row: false,
                explicit_sensitivity: false,
                columns: HashMap::new(),
            })
        }
    };
    let dataset = &mut datasets[entry.dataset];

    let is_dataset_row = row.column.is_none();
    if is_dataset_row {
        if entry.has_dataset_row {
            problems.add(
                file,
                line,
                Some("column"),
                format!("duplicate dataset-level row for `{name}`"),
            );
            return;
        }
        entry.has_dataset_row = true;
        // The dataset row's own values take precedence over values seen on column rows.
        if row.description.is_some() {
            dataset.description = row.description.clone();
        }
        for (slot, value) in [
            (&mut dataset.owner, &row.owner),
            (&mut dataset.domain, &row.domain),
            (&mut dataset.location, &row.location),
        ] {
            if value.is_some() {
                *slot = value.clone();
            }
        }
        if row.tags.is_some() {
            dataset.tags = split_list(row.tags.as_deref());
        }
        if row.allowed_groups.is_some() {
            dataset.allowed_groups = split_list(row.allowed_groups.as_deref());
        }
        if let Some(s) = sensitivity {
            set_sensitivity(dataset, entry, s);
        }
        if row.references.is_some() {
            problems.add(
                file,
                line,
                Some("references"),
                "references belong on column rows (the referencing column)",
            );
        }
        if row.lineage.is_some() {
            dataset.lineage = split_list(row.lineage.as_deref());
            sites.push(ReferenceSite {
                dataset: name.clone(),
                column: None,
                file: file.to_string(),
                line,
            });
        }
        dataset.properties.extend(row.properties);
        return;
    }

    // A column row; its dataset-level values fill only what is still empty (first wins), and
    // sensitivity only ever tightens.
    let column_name = row.column.clone().unwrap_or_default();
    let column_key = column_name.to_lowercase();
    if let Some(first) = entry.columns.get(&column_key) {
        problems.add(
            file,
            line,
            Some("column"),
            format!("duplicate column `{column_name}` in dataset `{name}` (first at line {first})"),
        );
        return;
    }
    entry.columns.insert(column_key, line);
    for (slot, value) in [
        (&mut dataset.owner, &row.owner),
        (&mut dataset.domain, &row.domain),
        (&mut dataset.location, &row.location),
    ] {
        if slot.is_none() {
            slot.clone_from(value);
        }
    }
    if dataset.allowed_groups.is_empty() {
        dataset.allowed_groups = split_list(row.allowed_groups.as_deref());
    }
    if let Some(s) = sensitivity {
        set_sensitivity(dataset, entry, s);
    }
    if dataset.lineage.is_empty() && row.lineage.is_some() {
        dataset.lineage = split_list(row.lineage.as_deref());
        sites.push(ReferenceSite {
            dataset: name.clone(),
            column: None,
            file: file.to_string(),
            line,
        });
    }
    let references = split_list(row.references.as_deref());
    if !references.is_empty() {
        sites.push(ReferenceSite {
            dataset: name.clone(),
            column: Some(column_name.clone()),
            file: file.to_string(),
            line,
        });
    }
    dataset.columns.push(Column {
        name: column_name,
        description: row.description,
        data_type: row.data_type,
        tags: split_list(row.tags.as_deref()),
        properties: row.properties,
        references,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CatalogProblem, MAX_PROBLEMS};

    fn parse(text: &[u8]) -> Result<Catalog, InvalidCatalog> {
        parse_catalog([("t.csv".to_string(), text)], 1 << 20)
    }

    fn only_problem(text: &[u8]) -> CatalogProblem {
        let err = parse(text).expect_err("should be rejected");
        assert_eq!(err.total_problems, 1, "{err}");
        err.problems[0].clone()
    }

    #[test]
    fn parses_datasets_columns_and_properties() {
        let cat = parse(
            b"Dataset,Column,Description,tags,owner,sensitivity,allowed_groups,refresh\n\
              crm.churn,,Churn scores,ml;crm,crm-team,confidential,crm;privacy,daily\n\
              crm.churn,customer_id,Customer key,pk,,,,\n\
              crm.churn,churn_probability,\"Probability, 0-1\",,,,,\n",
        )
        .unwrap();
        assert_eq!(cat.datasets.len(), 1);
        let d = &cat.datasets[0];
        assert_eq!(d.name, "crm.churn");
        assert_eq!(d.description.as_deref(), Some("Churn scores"));
        assert_eq!(d.tags, vec!["ml", "crm"]);
        assert_eq!(d.owner.as_deref(), Some("crm-team"));
        assert_eq!(d.sensitivity, Sensitivity::Confidential);
        assert_eq!(d.allowed_groups, vec!["crm", "privacy"]);
        assert_eq!(
            d.properties.get("refresh").map(String::as_str),
            Some("daily")
        );
        assert_eq!(d.columns.len(), 2);
        assert_eq!(d.columns[0].tags, vec!["pk"]);
        assert_eq!(
            d.columns[1].description.as_deref(),
            Some("Probability, 0-1")
        );
    }

    #[test]
    fn header_aliases_and_case_are_accepted() {
        let cat = parse(b"TABLE_NAME,Column_Name,Type\nsales.orders,id,bigint\n").unwrap();
        assert_eq!(cat.datasets[0].name, "sales.orders");
        assert_eq!(
            cat.datasets[0].columns[0].data_type.as_deref(),
            Some("bigint")
        );
        let cat = parse(b"table,column_name\nx,y\n").unwrap();
        assert_eq!(cat.datasets[0].columns[0].name, "y");
    }

    #[test]
    fn dataset_fields_on_column_rows_first_value_wins() {
        let cat = parse(b"dataset,column,owner,domain\nd,a,team-a,sales\nd,b,team-b,\n").unwrap();
        assert_eq!(cat.datasets[0].owner.as_deref(), Some("team-a"));
        assert_eq!(cat.datasets[0].domain.as_deref(), Some("sales"));
    }

    #[test]
    fn dataset_row_wins_over_column_rows() {
        let cat = parse(b"dataset,column,owner\nd,a,team-a\nd,,team-d\n").unwrap();
        assert_eq!(cat.datasets[0].owner.as_deref(), Some("team-d"));
    }

    #[test]
    fn sensitivity_on_column_rows_only_tightens() {
        let cat = parse(b"dataset,column,sensitivity\nd,,restricted\nd,a,public\n").unwrap();
        assert_eq!(cat.datasets[0].sensitivity, Sensitivity::Restricted);
        let cat = parse(b"dataset,column,sensitivity\nd,a,public\nd,,restricted\n").unwrap();
        assert_eq!(cat.datasets[0].sensitivity, Sensitivity::Restricted);
        let cat = parse(b"dataset,column,sensitivity\nd,a,public\n").unwrap();
        assert_eq!(cat.datasets[0].sensitivity, Sensitivity::Public);
    }

    #[test]
    fn bom_and_blank_lines_are_tolerated() {
        let cat = parse(b"\xef\xbb\xbfdataset,column\n\nd,a\n").unwrap();
        assert_eq!(cat.datasets[0].columns.len(), 1);
    }

    #[test]
    fn empty_dataset_name_is_rejected_with_line() {
        let p = only_problem(b"dataset,column\nd,a\n,b\n");
        assert_eq!(p.line, 3);
        assert_eq!(p.field.as_deref(), Some("dataset"));
    }

    #[test]
    fn duplicate_column_is_rejected() {
        let p = only_problem(b"dataset,column\nd,a\nd,b\nd,A\n");
        assert_eq!(p.line, 4);
        assert!(p.message.contains("duplicate column"), "{}", p.message);
        assert!(p.message.contains("line 2"), "{}", p.message);
    }

    #[test]
    fn duplicate_dataset_row_is_rejected() {
        let p = only_problem(b"dataset,column\nd,\nd,\n");
        assert_eq!(p.line, 3);
    }

    #[test]
    fn unknown_sensitivity_is_rejected() {
        let p = only_problem(b"dataset,column,sensitivity\nd,a,secret\n");
        assert_eq!(p.line, 2);
        assert_eq!(p.field.as_deref(), Some("sensitivity"));
        assert!(p.message.contains("secret"));
    }

    #[test]
    fn invalid_utf8_is_rejected_with_field() {
        let p = only_problem(b"dataset,column,description\nd,a,caf\xe9\n");
        assert_eq!(p.line, 2);
        assert_eq!(p.field.as_deref(), Some("description"));
        assert!(p.message.contains("UTF-8"));
    }

    #[test]
    fn ragged_rows_are_rejected() {
        let p = only_problem(b"dataset,column,description\nd,a\n");
        assert_eq!(p.line, 2);
        assert!(p.message.contains("2 fields"), "{}", p.message);
    }

    #[test]
    fn empty_file_is_rejected() {
        let p = only_problem(b"");
        assert!(p.message.contains("empty"));
    }

    #[test]
    fn header_only_file_has_no_datasets() {
        let p = only_problem(b"dataset,column\n");
        assert!(p.message.contains("no datasets"));
    }

    #[test]
    fn header_without_dataset_is_rejected() {
        let p = only_problem(b"name,column\nd,a\n");
        assert_eq!(p.line, 1);
        assert_eq!(p.field.as_deref(), Some("dataset"));
    }

    #[test]
    fn oversize_input_is_rejected() {
        let mut text = b"dataset,column\n".to_vec();
        for i in 0..1000 {
            text.extend_from_slice(format!("d,c{i}\n").as_bytes());
        }
        let err = parse_catalog([("big.csv".to_string(), &text[..])], 100).unwrap_err();
        assert!(err.problems[0].message.contains("size limit"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_and_capped() {
        let mut text = b"dataset,column,sensitivity\n".to_vec();
        for i in 0..150 {
            text.extend_from_slice(format!("d,c{i},bogus\n").as_bytes());
        }
        let err = parse(&text).unwrap_err();
        assert_eq!(err.total_problems, 150);
        assert_eq!(err.problems.len(), MAX_PROBLEMS);
        assert_eq!(err.problems[0].line, 2);
    }

    #[test]
    fn dataset_in_two_files_is_rejected() {
        let a: &[u8] = b"dataset,column\nd,a\n";
        let b: &[u8] = b"dataset,column\nd,b\n";
        let err = parse_catalog(
            [("a.csv".to_string(), a), ("b.csv".to_string(), b)],
            1 << 20,
        )
        .unwrap_err();
        assert_eq!(err.problems[0].file, "b.csv");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any bytes: a catalog, or problems each with a message, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let header = b"dataset,column,description,sensitivity,tags\n";
            for input in [&bytes[..], &[&header[..], &bytes[..]].concat()[..]] {
                if let Err(invalid) = parse_catalog([("f.csv".to_string(), input)], 1 << 16) {
                    prop_assert!(invalid.total_problems >= 1);
                    prop_assert!(invalid.problems.iter().all(|p| !p.message.is_empty()));
                }
            }
        }

        /// Well-formed rows load exactly: every (dataset, column) once, in order.
        #[test]
        fn generated_catalogs_load_exactly(
            rows in proptest::collection::btree_set(("[a-z][a-z0-9_]{0,8}", "[a-z][a-z0-9_]{0,8}"), 1..40),
            description in "[ -~]{0,30}",
        ) {
            let mut text = String::from("dataset,column,description\n");
            for (d, c) in &rows {
                let escaped = description.replace('"', "\"\"");
                text.push_str(&format!("s.{d},{c},\"{escaped}\"\n"));
            }
            let catalog = parse_catalog([("g.csv".to_string(), text.as_bytes())], 1 << 20)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(catalog.column_count(), rows.len());
            let datasets: std::collections::BTreeSet<&String> = rows.iter().map(|(d, _)| d).collect();
            prop_assert_eq!(catalog.datasets.len(), datasets.len());
        }
    }
}
