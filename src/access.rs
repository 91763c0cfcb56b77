//! Who may see what. One [`Visibility`] per request decides, for every path (search, suggest,
//! dataset page, ask, prompts), which datasets exist for the caller. Retrieval applies it inside
//! the index query, before top-k, never after.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    Public,
    Internal,
    Confidential,
    Restricted,
}

impl Sensitivity {
    pub fn parse(value: &str) -> Option<Sensitivity> {
        match value.trim().to_ascii_lowercase().as_str() {
            "public" => Some(Sensitivity::Public),
            "internal" => Some(Sensitivity::Internal),
            "confidential" => Some(Sensitivity::Confidential),
            "restricted" => Some(Sensitivity::Restricted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Confidential => "confidential",
            Sensitivity::Restricted => "restricted",
        }
    }
}

/// The access-control terms a dataset carries in the index: a caller sees the dataset when
/// the caller's [`Visibility::terms`] share at least one of them.
pub fn dataset_acl_terms(sensitivity: Sensitivity, allowed_groups: &[String]) -> Vec<String> {
    match sensitivity {
        Sensitivity::Public => vec!["level:public".into()],
        Sensitivity::Internal => vec!["level:internal".into()],
        Sensitivity::Confidential | Sensitivity::Restricted => allowed_groups
            .iter()
            .map(|group| format!("group:{}", group.to_ascii_lowercase()))
            .collect(),
    }
}

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

    /// A stable key for caches keyed by visibility.
    pub fn cache_key(&self) -> String {
        match self {
            Visibility::All => "*".into(),
            Visibility::Terms(terms) => terms.join(","),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

/// The stored form of an API key: its SHA-256, hex. Keys are random, so a fast hash is the
/// right one (no dictionary to slow down).
pub fn hash_api_key(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// A new API key secret (shown once) and its id.
pub fn new_api_key() -> (String, String) {
    let id = format!("key_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let secret = format!(
        "dk_{:016x}{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    (id, secret)
}

/// Groups from a header value: comma- or semicolon-separated names.
pub fn parse_groups(value: &str) -> Vec<String> {
    value
        .split([',', ';'])
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect()
}

/// Whether `ip` is `spec`: an address, or a CIDR range (`10.0.0.0/8`, `fd00::/8`).
pub fn ip_matches(ip: std::net::IpAddr, spec: &str) -> bool {
    use std::net::IpAddr;
    let (addr, bits) = match spec.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (spec, None),
    };
    let Ok(net) = addr.trim().parse::<IpAddr>() else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V4(_)) => ip
            .to_ipv4_mapped()
            .is_some_and(|v4| ip_matches(IpAddr::V4(v4), spec)),
        _ => false,
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn cidr_and_addresses() {
        let ip = |s: &str| s.parse().unwrap();
        assert!(ip_matches(ip("10.1.2.3"), "10.0.0.0/8"));
        assert!(!ip_matches(ip("11.1.2.3"), "10.0.0.0/8"));
        assert!(ip_matches(ip("127.0.0.1"), "127.0.0.1"));
        assert!(ip_matches(ip("::ffff:127.0.0.1"), "127.0.0.1"));
        assert!(!ip_matches(ip("127.0.0.2"), "127.0.0.1"));
        assert!(!ip_matches(ip("127.0.0.1"), "not-an-ip"));
    }

    #[test]
    fn keys_are_random_and_hashed() {
        let (id1, k1) = new_api_key();
        let (id2, k2) = new_api_key();
        assert_ne!((id1, &k1), (id2, &k2));
        assert_eq!(hash_api_key(&k1).len(), 64);
        assert_ne!(hash_api_key(&k1), hash_api_key(&k2));
        assert_eq!(parse_groups(" hr, finance;;x "), ["hr", "finance", "x"]);
    }
}
