//! Name patterns for `--exclude`: `*` matches any run of characters, `?` one character,
//! case-insensitively. A pattern matches a table by its own name or by its qualified name
//! (`tmp_*` excludes `sales.tmp_load`; `sales.*` excludes the whole schema).

/// One pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob {
            pattern: pattern.to_lowercase().chars().collect(),
        }
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.to_lowercase().chars().collect();
        let (p, t) = (&self.pattern, &text);
        let (mut pi, mut ti) = (0usize, 0usize);
        // Position of the last `*` and the text position it was tried at.
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }
}

/// Whether a table (`name`, qualified `qualified`) is excluded by any of `patterns`.
pub fn excluded(patterns: &[Glob], name: &str, qualified: &str) -> bool {
    patterns
        .iter()
        .any(|g| g.matches(name) || g.matches(qualified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks() {
        let g = Glob::new("tmp_*");
        assert!(g.matches("tmp_load"));
        assert!(g.matches("TMP_"));
        assert!(!g.matches("orders_tmp"));
        assert!(Glob::new("*_bak").matches("orders_bak"));
        assert!(Glob::new("a?c").matches("abc"));
        assert!(!Glob::new("a?c").matches("ac"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("a*b*c").matches("axxbyyc"));
        assert!(!Glob::new("a*b*c").matches("axxbyy"));
        assert!(Glob::new("orders").matches("Orders"));
    }

    #[test]
    fn a_table_is_excluded_by_its_name_or_its_qualified_name() {
        let patterns = [Glob::new("tmp_*"), Glob::new("staging.*")];
        assert!(excluded(&patterns, "tmp_x", "sales.tmp_x"));
        assert!(excluded(&patterns, "orders", "staging.orders"));
        assert!(!excluded(&patterns, "orders", "sales.orders"));
    }
}
