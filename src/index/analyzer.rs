//! Text analysis shared by indexing, querying and highlighting.
//!
//! Identifiers are split into words (`customer_churn` → customer, churn; `sessionId` → session,
//! id; `order2023` → order, 2023; `crm.orders` → crm, orders), then lowercased, folded and
//! stemmed. Each field is analyzed twice: with the English stemmer and with the Portuguese one,
//! since catalogs mix both languages.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use crate::text::split_identifiers;
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    Token, TokenStream, Tokenizer, TokenizerManager,
};

/// English-stemmed identifier/text analyzer.
pub const EN: &str = "desc_en";
/// Portuguese-stemmed identifier/text analyzer.
pub const PT: &str = "desc_pt";
/// Unstemmed, folded words (typeahead).
pub const WORDS: &str = "desc_words";
/// The whole value, lowercased (exact name match).
pub const EXACT: &str = "desc_exact";

/// Function words dropped from English text.
pub const EN_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "do", "does", "for",
    "from", "had", "has", "have", "if", "in", "into", "is", "it", "its", "of", "on", "or", "so",
    "such", "than", "that", "the", "their", "then", "there", "these", "they", "this", "those",
    "to", "was", "were", "will", "with", "which", "who", "whom", "whose", "what", "when", "where",
    "how", "why", "we", "our", "you", "your", "i", "me", "my", "he", "she", "his", "her", "them",
    "would", "should", "could", "did", "done", "being", "also", "any", "all", "each", "some",
];

/// Function words dropped from Portuguese text.
pub const PT_STOP_WORDS: &[&str] = &[
    "a", "ao", "aos", "as", "à", "às", "o", "os", "e", "é", "de", "do", "da", "dos", "das", "em",
    "no", "na", "nos", "nas", "um", "uma", "uns", "umas", "para", "pra", "por", "pelo", "pela",
    "pelos", "pelas", "com", "sem", "que", "se", "ou", "mas", "como", "mais", "seu", "sua", "seus",
    "suas", "este", "esta", "estes", "estas", "esse", "essa", "isso", "isto", "ser", "são", "foi",
    "tem", "têm", "há", "onde", "qual", "quais", "quem", "quando", "eu", "nós", "meu", "minha",
    "ele", "ela", "eles", "elas", "já", "também", "num", "numa",
];

/// Splits text on non-alphanumeric characters and identifiers on case and digit boundaries.
#[derive(Clone, Default)]
pub struct IdentifierTokenizer {
    token: Token,
    spans: Vec<(usize, usize)>,
}

pub struct IdentifierTokenStream<'a> {
    text: &'a str,
    spans: &'a [(usize, usize)],
    next: usize,
    token: &'a mut Token,
}

impl Tokenizer for IdentifierTokenizer {
    type TokenStream<'a> = IdentifierTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> IdentifierTokenStream<'a> {
        self.token.reset();
        self.spans.clear();
        split_identifiers(text, &mut self.spans);
        IdentifierTokenStream {
            text,
            spans: &self.spans,
            next: 0,
            token: &mut self.token,
        }
    }
}

impl TokenStream for IdentifierTokenStream<'_> {
    fn advance(&mut self) -> bool {
        let Some(&(from, to)) = self.spans.get(self.next) else {
            return false;
        };
        self.next += 1;
        self.token.text.clear();
        self.token.text.push_str(&self.text[from..to]);
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.position = self.token.position.wrapping_add(1);
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

fn stop_words(words: &[&str]) -> StopWordFilter {
    StopWordFilter::remove(words.iter().map(|w| w.to_string()))
}

pub fn english() -> TextAnalyzer {
    // Built once: a search builds several (query understanding, highlighting), and building
    // one hashes its stop words anew. Clones share them.
    static ENGLISH: std::sync::OnceLock<TextAnalyzer> = std::sync::OnceLock::new();
    ENGLISH
        .get_or_init(|| {
            TextAnalyzer::builder(IdentifierTokenizer::default())
                .filter(LowerCaser)
                .filter(stop_words(EN_STOP_WORDS))
                .filter(AsciiFoldingFilter)
                .filter(Stemmer::new(Language::English))
                .build()
        })
        .clone()
}

pub fn portuguese() -> TextAnalyzer {
    static PORTUGUESE: std::sync::OnceLock<TextAnalyzer> = std::sync::OnceLock::new();
    PORTUGUESE
        .get_or_init(|| {
            TextAnalyzer::builder(IdentifierTokenizer::default())
                .filter(LowerCaser)
                .filter(stop_words(PT_STOP_WORDS))
                .filter(Stemmer::new(Language::Portuguese))
                .filter(AsciiFoldingFilter)
                .build()
        })
        .clone()
}

pub fn words() -> TextAnalyzer {
    TextAnalyzer::builder(IdentifierTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

pub fn exact() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .build()
}

/// Registers the analyzers on an index's tokenizer manager.
pub fn register(manager: &TokenizerManager) {
    manager.register(EN, english());
    manager.register(PT, portuguese());
    manager.register(WORDS, words());
    manager.register(EXACT, exact());
}

/// A stemming analyzer: [`english`] or [`portuguese`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stemming {
    English,
    Portuguese,
}

/// One word's analyzed forms under both stemming analyzers (a term each, none for a stop word).
#[derive(Debug, Default)]
pub struct Forms {
    pub en: Box<[String]>,
    pub pt: Box<[String]>,
}

impl Forms {
    pub fn of(&self, stemming: Stemming) -> &[String] {
        match stemming {
            Stemming::English => &self.en,
            Stemming::Portuguese => &self.pt,
        }
    }
}

/// Words whose forms are remembered; past this the memo starts again, empty (a catalog's and
/// its askers' words come back at once). An entry is about 250 bytes for a word of ordinary
/// length (the word, its two forms, their allocations; estimated, not measured), about 400 for
/// the longest remembered: 12 MiB, 20 at most.
const MEMO_WORDS: usize = 50_000;

/// Longer words (a hash, an encoded blob in a description or a question) are stemmed each
/// time, not remembered: they rarely come back, and would make the memo's size the askers'.
const MEMO_WORD_BYTES: usize = 64;

/// Words and their forms, up to `capacity` words; past that it starts again, empty.
struct Memo {
    words: RwLock<HashMap<Box<str>, Arc<Forms>>>,
    capacity: usize,
}

impl Memo {
    fn new(capacity: usize) -> Self {
        Memo {
            words: RwLock::default(),
            capacity,
        }
    }

    /// The remembered forms of `word`, or `analyze`'s, remembered from now on.
    fn get(&self, word: &str, analyze: impl FnOnce() -> Arc<Forms>) -> Arc<Forms> {
        if let Some(found) = self
            .words
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(word)
        {
            return found.clone();
        }
        let found = analyze();
        let mut words = self.words.write().unwrap_or_else(PoisonError::into_inner);
        if words.len() >= self.capacity {
            words.clear();
        }
        words.insert(word.into(), found.clone());
        found
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.words
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The forms of `word`, a word as [`split_identifiers`] splits text, remembered across
/// searches: every search analyzes its question's words and their translations, and the words
/// of the page it presents (to highlight them), and the same words come back search after
/// search. Stemming them anew was a fifth of a search's CPU on the Spider catalog (README,
/// "Performance").
pub fn forms(word: &str) -> Arc<Forms> {
    static MEMO: OnceLock<Memo> = OnceLock::new();
    if word.len() > MEMO_WORD_BYTES {
        return analyzed(word);
    }
    MEMO.get_or_init(|| Memo::new(MEMO_WORDS))
        .get(word, || analyzed(word))
}

fn analyzed(word: &str) -> Arc<Forms> {
    Arc::new(Forms {
        en: terms(&mut english(), word).into(),
        pt: terms(&mut portuguese(), word).into(),
    })
}

/// The terms [`english`] or [`portuguese`] gives `text`, word by word through [`forms`] (the
/// same terms: each filter reads one token at a time).
pub fn stemmed(text: &str, stemming: Stemming) -> Vec<String> {
    let mut spans = Vec::new();
    split_identifiers(text, &mut spans);
    let mut out = Vec::with_capacity(spans.len());
    for (from, to) in spans {
        out.extend(forms(&text[from..to]).of(stemming).iter().cloned());
    }
    out
}

/// The analyzed terms of `text`.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// The analyzed terms of `text` with their byte spans in `text`.
pub fn terms_with_spans(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push((token.text.clone(), token.offset_from, token.offset_to));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_analyzer_stems_and_drops_stop_words() {
        let mut en = english();
        assert_eq!(
            terms(&mut en, "The customers' ChurnScores of orders"),
            ["custom", "churn", "score", "order"]
        );
    }

    #[test]
    fn portuguese_analyzer_stems_and_folds() {
        let mut pt = portuguese();
        assert_eq!(terms(&mut pt, "pedidos faturados"), ["ped", "fatur"]);
        assert_eq!(
            terms(&mut pt, "Notificações de Clientes"),
            ["notific", "client"]
        );
    }

    #[test]
    fn remembered_words_give_the_terms_of_the_whole_text() {
        let texts = [
            "The customers' ChurnScores of orders",
            "pedidos faturados; Notificações de Clientes",
            "HTTPServer order2023 customerID e-mail São Paulo",
            "",
        ];
        for text in texts.iter().chain(&texts) {
            assert_eq!(
                stemmed(text, Stemming::English),
                terms(&mut english(), text)
            );
            assert_eq!(
                stemmed(text, Stemming::Portuguese),
                terms(&mut portuguese(), text)
            );
        }
        assert!(forms("the").en.is_empty());
        assert_eq!(&*forms("Customers").en, ["custom"]);
        // A word too long to remember is stemmed all the same.
        let long = format!("{}s", "order".repeat(20));
        assert!(long.len() > MEMO_WORD_BYTES);
        assert_eq!(*forms(&long).en, *terms(&mut english(), &long));
        assert_eq!(forms(&long).en.len(), 1);
    }

    #[test]
    fn a_full_memo_starts_again_and_still_gives_each_words_forms() {
        let memo = Memo::new(3);
        let words = [
            "orders",
            "customers",
            "pedidos",
            "clientes",
            "orders",
            "faturados",
        ];
        for (asked, word) in words.iter().enumerate() {
            let found = memo.get(word, || analyzed(word));
            assert_eq!(*found.en, *terms(&mut english(), word), "{word}");
            assert_eq!(*found.pt, *terms(&mut portuguese(), word), "{word}");
            assert!(memo.len() <= 3, "{} words after {}", memo.len(), asked + 1);
        }
        // "clientes" found it full and started it again; "orders" and "faturados" came after.
        assert_eq!(memo.len(), 3);
        // A remembered word is not analyzed again.
        let again = memo.get("faturados", || panic!("analyzed again"));
        assert_eq!(*again.pt, ["fatur"]);
    }

    proptest::proptest! {
        /// Word by word is the same as the whole text, whatever the text (letters of both
        /// cases, digits, accents, punctuation).
        #[test]
        fn stemmed_word_by_word_is_the_whole_text_analysis(text in "[a-zA-Z0-9ÁÉçãõ _.,'-]{0,100}") {
            proptest::prop_assert_eq!(stemmed(&text, Stemming::English), terms(&mut english(), &text));
            proptest::prop_assert_eq!(stemmed(&text, Stemming::Portuguese), terms(&mut portuguese(), &text));
        }
    }

    #[test]
    fn spans_point_into_the_original_text() {
        let mut en = english();
        let text = "total_amount in BRL";
        let spans = terms_with_spans(&mut en, text);
        let words: Vec<&str> = spans.iter().map(|(_, a, b)| &text[*a..*b]).collect();
        assert_eq!(words, ["total", "amount", "BRL"]);
    }
}
