//! Cross-lingual lexical matching: a Portuguese question's words also search their English
//! names (catalogs are mostly named in English), and an English question's words their
//! Portuguese ones (descriptions are often written in Portuguese). Translations come from
//! bilingual word tables (`pt-en.tsv`, `en-pt.tsv`, built by `scripts/setup` from the FreeDict
//! dictionaries Debian ships), looked up by the word as typed or by its stem, plus a small
//! built-in table of catalog words. They are weighted below the words as typed.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;

use crate::index::analyzer::{self, Stemming};
use crate::telemetry::Degradation;
use crate::text::fold;

/// Translations kept per word.
const PER_WORD: usize = 4;

/// Catalog words the dictionaries miss or translate poorly (Portuguese, accents folded).
const BUILT_IN: &[(&str, &str)] = &[
    ("pedido", "order"),
    ("pagamento", "payment"),
    ("cliente", "customer"),
    ("reembolso", "refund"),
    ("devolucao", "return refund"),
    ("venda", "sale"),
    ("produto", "product"),
    ("entrega", "delivery"),
    ("envio", "shipment"),
    ("frete", "freight shipping"),
    ("estoque", "stock inventory"),
    ("fatura", "invoice"),
    ("nota", "invoice"),
    ("receita", "revenue"),
    ("faturamento", "revenue billing"),
    ("avaliacao", "review rating"),
    ("campanha", "campaign"),
    ("mensagem", "message"),
    ("vendedor", "seller"),
    ("funcionario", "employee"),
    ("colaborador", "employee"),
    ("salario", "salary"),
    ("categoria", "category"),
    ("preco", "price"),
    ("cupom", "coupon"),
    ("sessao", "session"),
    ("pagina", "page"),
    ("busca", "search"),
    ("pesquisa", "search survey"),
    ("fraude", "fraud"),
    ("transportadora", "carrier"),
    ("endereco", "address"),
    ("cidade", "city"),
    ("valor", "amount value"),
    ("quantidade", "quantity"),
    ("desconto", "discount"),
    ("cancelamento", "cancellation churn"),
    ("evasao", "churn"),
    ("satisfacao", "satisfaction"),
    ("conversa", "conversation"),
    ("atendimento", "support"),
    ("chamado", "ticket"),
    ("diario", "daily"),
    ("mensal", "monthly"),
    ("loja", "store"),
    ("compra", "purchase order"),
    ("usuario", "user"),
    ("conta", "account"),
    ("cartao", "card"),
    ("data", "date"),
    ("marca", "brand"),
    ("fornecedor", "supplier"),
    ("armazem", "warehouse"),
    ("recomendacao", "recommendation"),
    ("segmento", "segment"),
];

/// One direction of translation: by folded word, and by stem.
#[derive(Debug, Default)]
struct Table {
    words: HashMap<String, Vec<String>>,
    stems: HashMap<String, Vec<String>>,
}

impl Table {
    fn insert(
        &mut self,
        word: &str,
        translations: impl IntoIterator<Item = String>,
        stem: &mut dyn FnMut(&str) -> Option<String>,
    ) {
        let translations: Vec<String> = translations.into_iter().collect();
        let add = |entry: &mut Vec<String>| {
            for t in &translations {
                if !entry.contains(t) && entry.len() < PER_WORD {
                    entry.push(t.clone());
                }
            }
        };
        let folded = fold(word);
        add(self.words.entry(folded.clone()).or_default());
        // Stems of the word as written and folded: the stemmer reads accents.
        let lower = word.to_lowercase();
        for form in [lower.as_str(), folded.as_str()] {
            if let Some(s) = stem(form) {
                add(self.stems.entry(s).or_default());
            }
        }
    }

    /// `word`'s translations: by its folded singular forms, else by its stem (as written,
    /// then folded).
    fn lookup(&self, word: &str, stemming: Stemming) -> &[String] {
        let folded = fold(word);
        if let Some(found) = singular_forms(&folded).find_map(|w| self.words.get(&w)) {
            return found;
        }
        let lower = word.to_lowercase();
        [lower.as_str(), folded.as_str()]
            .into_iter()
            .filter_map(|form| {
                let stem = analyzer::stemmed(form, stemming).into_iter().next()?;
                self.stems.get(&stem)
            })
            .next()
            .map_or(&[], Vec::as_slice)
    }
}

/// Bilingual word tables, Portuguese ↔ English.
#[derive(Debug)]
pub struct Dictionary {
    pt_en: Table,
    en_pt: Table,
    /// Headwords loaded from files (0: the built-in table only).
    pub loaded: usize,
}

/// A folded word and its likely singulars (Portuguese and English plural endings), then its
/// masculine (a Portuguese adjective's headword: "rápida" is under "rápido").
fn singular_forms(folded: &str) -> impl Iterator<Item = String> + '_ {
    const ENDINGS: [(&str, &str); 11] = [
        ("coes", "cao"),
        ("ns", "m"),
        ("oes", "ao"),
        ("aes", "ao"),
        ("ais", "al"),
        ("eis", "el"),
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("as", "o"),
        ("a", "o"),
    ];
    std::iter::once(folded.to_string()).chain(
        ENDINGS
            .iter()
            .filter_map(move |(plural, singular)| {
                folded
                    .strip_suffix(plural)
                    .map(|stem| format!("{stem}{singular}"))
            })
            .filter(|w| w.len() >= 3),
    )
}

fn stemmer(portuguese: bool) -> impl FnMut(&str) -> Option<String> {
    let mut analyzer = if portuguese {
        analyzer::portuguese()
    } else {
        analyzer::english()
    };
    move |word: &str| analyzer::terms(&mut analyzer, word).into_iter().next()
}

impl Dictionary {
    /// Only the built-in catalog words.
    pub fn built_in() -> Dictionary {
        let mut pt_en = Table::default();
        let mut stem = stemmer(true);
        for (pt, en) in BUILT_IN {
            pt_en.insert(pt, en.split(' ').map(str::to_string), &mut stem);
        }
        Dictionary {
            pt_en,
            en_pt: Table::default(),
            loaded: 0,
        }
    }

    /// The built-in words plus `dir/pt-en.tsv` and `dir/en-pt.tsv` (`word<TAB>t1;t2;...`);
    /// the files are optional.
    pub fn load(dir: &Path) -> anyhow::Result<Dictionary> {
        let mut dictionary = Dictionary::built_in();
        for (file, portuguese) in [("pt-en.tsv", true), ("en-pt.tsv", false)] {
            let path = dir.join(file);
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let table = if portuguese {
                &mut dictionary.pt_en
            } else {
                &mut dictionary.en_pt
            };
            let mut stem = stemmer(portuguese);
            for line in text.lines() {
                let Some((word, translations)) = line.split_once('\t') else {
                    continue;
                };
                let translations = translations
                    .split(';')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string);
                table.insert(word, translations, &mut stem);
                dictionary.loaded += 1;
            }
        }
        Ok(dictionary)
    }

    /// English words for a Portuguese one.
    pub fn to_english(&self, word: &str) -> Vec<String> {
        self.pt_en.lookup(word, Stemming::Portuguese).to_vec()
    }

    /// Portuguese words for an English one.
    pub fn to_portuguese(&self, word: &str) -> Vec<String> {
        self.en_pt.lookup(word, Stemming::English).to_vec()
    }
}

impl Dictionary {
    /// The tables of `settings.dictionary_dir()`; the built-in words alone, with a
    /// degradation reported to `warnings`, when they are missing or unreadable.
    pub fn for_settings(
        settings: &crate::settings::Settings,
        warnings: &mut Vec<Degradation>,
    ) -> Dictionary {
        let dir = settings.dictionary_dir();
        let summary = "no bilingual word tables (run scripts/setup): Portuguese questions match \
                       English names through a small built-in word list only";
        match Dictionary::load(&dir) {
            Ok(d) if d.loaded > 0 => {
                tracing::info!(words = d.loaded, dir = %dir.display(), "bilingual word tables loaded");
                d
            }
            Ok(d) => {
                let detail = format!("no pt-en.tsv or en-pt.tsv in {}", dir.display());
                Degradation::report(warnings, summary, detail);
                d
            }
            Err(e) => {
                Degradation::report(warnings, summary, format!("{e:#}"));
                Dictionary::built_in()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_words_translate_with_their_inflections() {
        let d = Dictionary::built_in();
        assert_eq!(d.to_english("Pedidos"), ["order"]);
        assert_eq!(d.to_english("avaliações"), ["review", "rating"]);
        assert!(d.to_english("xyzzy").is_empty());
    }

    #[test]
    fn tables_load_from_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pt-en.tsv"),
            "regente\tconductor;director\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("en-pt.tsv"), "singer\tcantor\n").unwrap();
        let d = Dictionary::load(dir.path()).unwrap();
        assert_eq!(d.loaded, 2);
        assert_eq!(d.to_english("regentes"), ["conductor", "director"]);
        assert_eq!(d.to_portuguese("singers"), ["cantor"]);
    }

    #[test]
    fn a_feminine_or_an_m_plural_finds_its_headword() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pt-en.tsv"),
            "homem\tman\nrápido\tfast;quick;rapid;speedy\n",
        )
        .unwrap();
        let d = Dictionary::load(dir.path()).unwrap();
        assert_eq!(d.to_english("homens"), ["man"]);
        // Found as a word, before any stem (stems collide: in FreeDict's table "rápida" has
        // the stem of words meaning "scrape").
        assert_eq!(
            d.to_english("rápidas"),
            ["fast", "quick", "rapid", "speedy"]
        );
    }
}
