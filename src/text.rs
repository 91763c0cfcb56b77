//! Small text helpers shared by every layer: identifier splitting and spelling identifiers
//! as words.

#[derive(Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Lower,
    Upper,
    Digit,
    Other,
}

fn class(c: char) -> CharClass {
    if c.is_numeric() {
        CharClass::Digit
    } else if c.is_uppercase() {
        CharClass::Upper
    } else if c.is_alphabetic() {
        CharClass::Lower
    } else {
        CharClass::Other
    }
}

/// Byte spans of the words in `text` (identifier-aware).
pub fn split_identifiers(text: &str, spans: &mut Vec<(usize, usize)>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut start: Option<usize> = None;
    for i in 0..chars.len() {
        let (offset, c) = chars[i];
        let cls = class(c);
        if cls == CharClass::Other {
            if let Some(s) = start.take() {
                spans.push((s, offset));
            }
            continue;
        }
        let Some(s) = start else {
            start = Some(offset);
            continue;
        };
        let prev = class(chars[i - 1].1);
        let next = chars.get(i + 1).map(|&(_, c)| class(c));
        let boundary = match (prev, cls) {
            (CharClass::Lower, CharClass::Upper) => true,
            (CharClass::Digit, CharClass::Lower | CharClass::Upper) => true,
            (CharClass::Lower | CharClass::Upper, CharClass::Digit) => true,
            // "HTTPServer": a new word starts at the last capital before a lowercase letter.
            (CharClass::Upper, CharClass::Upper) => next == Some(CharClass::Lower),
            _ => false,
        };
        if boundary {
            spans.push((s, offset));
            start = Some(offset);
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
}

/// `customer_churnScore` → `customer churn Score`.
pub fn words(identifier: &str) -> String {
    let mut spans = Vec::new();
    split_identifiers(identifier, &mut spans);
    spans
        .iter()
        .map(|&(a, b)| &identifier[a..b])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lowercase, accents folded (`Evasão` → `evasao`).
pub fn fold(word: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    word.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_of(text: &str) -> Vec<String> {
        let mut spans = Vec::new();
        split_identifiers(text, &mut spans);
        spans.iter().map(|&(a, b)| text[a..b].to_string()).collect()
    }

    #[test]
    fn splits_snake_camel_dots_and_digits() {
        assert_eq!(words_of("crm.customer_churn"), ["crm", "customer", "churn"]);
        assert_eq!(words_of("sessionId"), ["session", "Id"]);
        assert_eq!(words_of("HTTPServerURL"), ["HTTP", "Server", "URL"]);
        assert_eq!(words_of("order2023items"), ["order", "2023", "items"]);
        assert_eq!(words_of("amt_brl v2"), ["amt", "brl", "v", "2"]);
        assert_eq!(words_of("dtPedido"), ["dt", "Pedido"]);
        assert_eq!(words_of("ação_média"), ["ação", "média"]);
        assert!(words_of("  __ ..").is_empty());
    }
}
