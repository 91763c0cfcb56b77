//! Who may see what. One [`Visibility`] per request decides, for every path (search, suggest,
//! dataset page, ask, prompts), which datasets exist for the caller. Retrieval applies it inside
//! the index query, before top-k, never after; the [`Redactor`] hides the names of datasets a
//! caller may not see inside the text of those it may.

use std::borrow::Cow;

use crate::catalog::{Catalog, Sensitivity};
use crate::index::TextFilter;

/// What one caller may see.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Admins see everything.
    All,
    /// Everyone else sees datasets whose ACL terms intersect these.
    Terms(Vec<String>),
}

impl Visibility {
    /// An anonymous caller at the configured level (`public` or `internal`).
    pub fn anonymous(level: Sensitivity) -> Visibility {
        Visibility::for_groups(level, &[])
    }

    /// A caller at `level` who belongs to `groups`.
    pub fn for_groups(level: Sensitivity, groups: &[String]) -> Visibility {
        let mut terms = vec!["level:public".to_string()];
        if level >= Sensitivity::Internal {
            terms.push("level:internal".into());
        }
        let mut groups: Vec<String> = groups
            .iter()
            .map(|group| format!("group:{}", group.trim().to_ascii_lowercase()))
            .collect();
        groups.sort();
        groups.dedup();
        terms.extend(groups);
        Visibility::Terms(terms)
    }

    /// Whether a dataset with these ACL terms is visible.
    pub fn allows(&self, acl_terms: &[String]) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Terms(terms) => acl_terms.iter().any(|t| terms.contains(t)),
        }
    }

    /// The ACL terms to filter the index by; `None` when nothing is hidden.
    pub fn acl_terms(&self) -> Option<&[String]> {
        match self {
            Visibility::All => None,
            Visibility::Terms(terms) => Some(terms),
        }
    }

    /// A stable key for caches keyed by visibility.
    pub fn cache_key(&self) -> String {
        match self {
            Visibility::All => "*".into(),
            Visibility::Terms(terms) => terms.join(","),
        }
    }
}

/// Replaces, in text a caller may see, the names of datasets that caller may not see: a
/// visible description, tag, location, owner or property that mentions a restricted dataset
/// must not reveal its name.
///
/// Names are matched by their word sequence, whatever joins the words: `hr.zebra_salary_bands`
/// is found as `hr/zebra-salary-bands`, `HR.Zebra_Salary_Bands` and inside
/// `s3://lake/hr/zebra_salary_bands/`; a longer identifier that starts with it
/// (`hr.zebra_salary_bands_v2`) is hidden whole. The part after the last dot is matched alone
/// too when it has several words (`zebra_salary_bands`).
pub struct Redactor {
    matcher: Option<aho_corasick::AhoCorasick>,
    /// Dataset ordinal of each pattern.
    owners: Vec<u32>,
}

/// What a hidden name is replaced with.
pub const REDACTED: &str = "[restricted dataset]";

/// Characters that join the words of a name.
fn is_joiner(b: u8) -> bool {
    matches!(b, b'.' | b'_' | b'-' | b'/')
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// The canonical form of a name or text: ASCII lowercased, every joiner a `.`; the same byte
/// length as the input, so match offsets carry over.
fn canonical(text: &str) -> Vec<u8> {
    text.bytes()
        .map(|b| {
            if is_joiner(b) {
                b'.'
            } else {
                b.to_ascii_lowercase()
            }
        })
        .collect()
}

/// The words of a name joined by `.` (`HR.Zebra_Salary-Bands` → `hr.zebra.salary.bands`).
fn word_pattern(name: &str) -> Option<String> {
    let words: Vec<String> = name
        .split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    (!words.is_empty()).then(|| words.join("."))
}

impl Redactor {
    /// `names[i]` is the name of dataset `i`.
    pub fn new<'a>(names: impl Iterator<Item = &'a str>) -> Redactor {
        let mut patterns: Vec<String> = Vec::new();
        let mut owners = Vec::new();
        for (i, name) in names.enumerate() {
            let Some(full) = word_pattern(name) else {
                continue;
            };
            if let Some((_, short)) = name.rsplit_once('.')
                && let Some(short) = word_pattern(short)
                && short.contains('.')
                && short.len() >= 6
                && short != full
            {
                patterns.push(short);
                owners.push(i as u32);
            }
            patterns.push(full);
            owners.push(i as u32);
        }
        let matcher = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok();
        Redactor { matcher, owners }
    }

    /// Each mention of a dataset name in `text`: (byte span to hide, dataset ordinal).
    fn mentions(&self, text: &str) -> Vec<(usize, usize, u32)> {
        let Some(matcher) = &self.matcher else {
            return Vec::new();
        };
        let canon = canonical(text);
        let mut found = Vec::new();
        for m in matcher.find_iter(&canon) {
            let (start, mut end) = (m.start(), m.end());
            let mut preceding = text[..start].chars().rev();
            let before = preceding.next();
            let after = text[end..].chars().next();
            if before.is_some_and(is_word_char) || after.is_some_and(is_word_char) {
                continue;
            }
            // `my_employee_compensation`: the tail of another identifier, not a mention.
            if matches!(before, Some('_' | '-')) && preceding.next().is_some_and(is_word_char) {
                continue;
            }
            // A longer identifier that starts with the name (`…_v2`, `…/part-0`): hide it
            // whole, but not a trailing joiner (`…/`) or sentence period.
            while end < canon.len() && (canon[end] == b'.' || canon[end].is_ascii_alphanumeric()) {
                end += 1;
            }
            while end > m.end() && canon[end - 1] == b'.' {
                end -= 1;
            }
            if !text.is_char_boundary(end) {
                end = m.end();
            }
            found.push((start, end, self.owners[m.pattern().as_usize()]));
        }
        found
    }

    /// The datasets whose names `text` mentions.
    pub fn mentioned(&self, text: &str) -> impl Iterator<Item = u32> {
        self.mentions(text).into_iter().map(|(_, _, owner)| owner)
    }

    /// `text` with every name of a dataset `visible` rejects replaced by [`REDACTED`].
    pub fn redact(&self, text: &str, visible: impl Fn(u32) -> bool) -> String {
        self.redact_cow(text, visible).into_owned()
    }

    /// [`Redactor::redact`], borrowing `text` when there is nothing to hide.
    pub fn redact_cow<'t>(&self, text: &'t str, visible: impl Fn(u32) -> bool) -> Cow<'t, str> {
        let mentions = self.mentions(text);
        if mentions.iter().all(|&(_, _, owner)| visible(owner)) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut cursor = 0;
        for (start, end, owner) in mentions {
            if visible(owner) || start < cursor {
                continue;
            }
            out.push_str(&text[cursor..start]);
            out.push_str(REDACTED);
            cursor = end;
        }
        out.push_str(&text[cursor..]);
        Cow::Owned(out)
    }
}

/// What the indexes (lexical and semantic) may hold of a dataset's text: the names of other
/// datasets it mentions are redacted unless everyone who may see this dataset may see them
/// too (its ACL terms are a subset of theirs). Otherwise a search for a word found only in a
/// hidden name would match, and so confirm, the visible dataset that mentions it.
pub struct IndexRedaction {
    redactor: Redactor,
    acl: Vec<Vec<String>>,
}

impl IndexRedaction {
    pub fn new(catalog: &Catalog) -> IndexRedaction {
        IndexRedaction {
            redactor: Redactor::new(catalog.datasets.iter().map(|d| d.name.as_str())),
            acl: catalog.datasets.iter().map(|d| d.acl_terms()).collect(),
        }
    }
}

impl TextFilter for IndexRedaction {
    /// `text` of dataset `dataset` as the indexes may hold it.
    fn filter<'t>(&self, dataset: u32, text: &'t str) -> Cow<'t, str> {
        let own = self.acl.get(dataset as usize);
        self.redactor.redact_cow(text, |mentioned| {
            mentioned == dataset
                || match (own, self.acl.get(mentioned as usize)) {
                    (Some(own), Some(theirs)) => own.iter().all(|t| theirs.contains(t)),
                    _ => false,
                }
        })
    }
}

#[cfg(test)]
mod redactor_tests {
    use super::*;

    #[test]
    fn hides_names_of_invisible_datasets_only() {
        let r = Redactor::new(["crm.customers", "hr.employee_compensation"].into_iter());
        let text = "Joins crm.customers; salaries live in HR.Employee_Compensation (see employee_compensation).";
        assert_eq!(
            r.redact(text, |i| i == 0),
            "Joins crm.customers; salaries live in [restricted dataset] (see [restricted dataset])."
        );
        assert_eq!(r.redact(text, |_| true), text);
        assert_eq!(
            r.redact("my_employee_compensation_x", |_| false),
            "my_employee_compensation_x"
        );
    }

    #[test]
    fn names_are_matched_by_their_words_whatever_joins_them() {
        let r = Redactor::new(["pub.open", "hr.zebra_salary_bands"].into_iter());
        let hidden = |i: u32| i == 0;
        for (text, expected) in [
            (
                "s3://lake/hr/zebra_salary_bands/",
                "s3://lake/[restricted dataset]/",
            ),
            ("see hr/zebra-salary-bands.", "see [restricted dataset]."),
            (
                "copy: hr.zebra_salary_bands_v2",
                "copy: [restricted dataset]",
            ),
            ("Zebra-Salary-Bands feed", "[restricted dataset] feed"),
            ("zebra salary bands", "zebra salary bands"),
            ("notzebra_salary_bands", "notzebra_salary_bands"),
        ] {
            assert_eq!(r.redact(text, hidden), expected, "{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Sensitivity, dataset_acl_terms};

    #[test]
    fn anonymous_internal_sees_public_and_internal_only() {
        let vis = Visibility::anonymous(Sensitivity::Internal);
        assert!(vis.allows(&dataset_acl_terms(Sensitivity::Public, &[])));
        assert!(vis.allows(&dataset_acl_terms(Sensitivity::Internal, &[])));
        let hr = dataset_acl_terms(Sensitivity::Restricted, &["hr".into()]);
        assert!(!vis.allows(&hr));
        assert!(!vis.allows(&dataset_acl_terms(Sensitivity::Confidential, &[])));
    }

    #[test]
    fn anonymous_public_does_not_see_internal() {
        let vis = Visibility::anonymous(Sensitivity::Public);
        assert!(!vis.allows(&dataset_acl_terms(Sensitivity::Internal, &[])));
    }

    #[test]
    fn group_members_see_their_restricted_datasets() {
        let hr = dataset_acl_terms(Sensitivity::Restricted, &["HR".into()]);
        assert!(Visibility::for_groups(Sensitivity::Internal, &["hr".into()]).allows(&hr));
        assert!(!Visibility::for_groups(Sensitivity::Internal, &["sales".into()]).allows(&hr));
        assert!(Visibility::All.allows(&hr));
    }
}
