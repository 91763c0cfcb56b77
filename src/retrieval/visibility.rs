//! Who may see what. One [`Visibility`] per request decides, for every path (search, suggest,
//! dataset page, ask, prompts), which datasets exist for the caller. Retrieval applies it inside
//! the index query, before top-k, never after; the [`Redactor`] hides the names of datasets a
//! caller may not see inside the text of those it may.

use crate::catalog::Sensitivity;

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
/// visible description that mentions a restricted dataset must not reveal its name.
pub struct Redactor {
    matcher: Option<aho_corasick::AhoCorasick>,
    /// Dataset ordinal of each pattern.
    owners: Vec<u32>,
}

/// What a hidden name is replaced with.
pub const REDACTED: &str = "[restricted dataset]";

impl Redactor {
    /// `names[i]` is the name of dataset `i`. Both the full name and, when it looks like an
    /// identifier (`employee_compensation`), the part after the last dot are matched.
    pub fn new<'a>(names: impl Iterator<Item = &'a str>) -> Redactor {
        let mut patterns: Vec<String> = Vec::new();
        let mut owners = Vec::new();
        for (i, name) in names.enumerate() {
            let lower = name.to_lowercase();
            if let Some((_, short)) = lower.rsplit_once('.')
                && short.contains('_')
                && short.len() >= 6
            {
                patterns.push(short.to_string());
                owners.push(i as u32);
            }
            patterns.push(lower);
            owners.push(i as u32);
        }
        let matcher = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok();
        Redactor { matcher, owners }
    }

    /// `text` with every name of a dataset `visible` rejects replaced by [`REDACTED`].
    pub fn redact(&self, text: &str, visible: impl Fn(u32) -> bool) -> String {
        let Some(matcher) = &self.matcher else {
            return text.to_string();
        };
        let mut out = String::with_capacity(text.len());
        let mut cursor = 0;
        for m in matcher.find_iter(text) {
            let owner = self.owners[m.pattern().as_usize()];
            let before = text[..m.start()].chars().next_back();
            let after = text[m.end()..].chars().next();
            let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if visible(owner) || is_word(before) || is_word(after) {
                continue;
            }
            out.push_str(&text[cursor..m.start()]);
            out.push_str(REDACTED);
            cursor = m.end();
        }
        out.push_str(&text[cursor..]);
        out
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
