//! The live catalog version: a [`Snapshot`] holds one version fully ready to serve (catalog
//! in memory, lexical index open, semantic index when ready), and [`Live`] is the atomic
//! pointer to the one being served. A request takes the snapshot once and finishes on it,
//! whatever loads happen meanwhile.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwapOption;

use super::glossary::GlossaryIndex;
use super::relations::Links;
use super::visibility::{Redactor, Visibility};
use crate::catalog::{Catalog, Dataset};
use crate::embed::SemanticIndex;
use crate::index::LexicalIndex;
use crate::index::suggest::SuggestIndex;

/// The snapshot being served, swapped atomically by the load pipeline.
pub type Live = ArcSwapOption<Snapshot>;

/// One catalog version, ready to serve.
pub struct Snapshot {
    pub version: i64,
    pub catalog: Catalog,
    by_name: HashMap<String, u32>,
    acl: Vec<Vec<String>>,
    /// The distinct ACL term sets of the catalog (few), to tell when a caller sees it all.
    acl_sets: Vec<Vec<String>>,
    redactor: Redactor,
    /// Per dataset: the other datasets its text mentions by name (usually none).
    mentions: Vec<Box<[u32]>>,
    pub lexical: LexicalIndex,
    /// The relationships between datasets, as a graph.
    pub links: Links,
    /// The glossary's phrases and links.
    pub glossary: GlossaryIndex,
    /// Typeahead prefix table.
    pub suggest: SuggestIndex,
    /// Dataset embeddings; empty without an embedding model, or while they are being
    /// computed in the background after a large load.
    semantic: ArcSwapOption<SemanticIndex>,
    /// Set when a search found the index damaged (it panicked): the version is rebuilt.
    unhealthy: AtomicBool,
}

impl Snapshot {
    pub fn new(
        version: i64,
        catalog: Catalog,
        lexical: LexicalIndex,
        semantic: Option<SemanticIndex>,
    ) -> Snapshot {
        let semantic = ArcSwapOption::from(semantic.map(Arc::new));
        let suggest = SuggestIndex::build(&catalog);
        let by_name = catalog.name_index();
        let acl: Vec<Vec<String>> = catalog.datasets.iter().map(Dataset::acl_terms).collect();
        let mut acl_sets = acl.clone();
        acl_sets.sort();
        acl_sets.dedup();
        let redactor = Redactor::new(catalog.datasets.iter().map(|d| d.name.as_str()));
        let mentions = mentions(&catalog, &redactor);
        let links = Links::build(&catalog);
        let glossary = GlossaryIndex::build(&catalog);
        Snapshot {
            version,
            catalog,
            by_name,
            acl,
            acl_sets,
            redactor,
            mentions,
            lexical,
            links,
            glossary,
            suggest,
            semantic,
            unhealthy: AtomicBool::new(false),
        }
    }

    /// Marks the index damaged (a search over it failed in a way only corruption explains).
    pub fn mark_unhealthy(&self) {
        self.unhealthy.store(true, Ordering::Relaxed);
    }

    /// Whether the index was found damaged.
    pub fn is_unhealthy(&self) -> bool {
        self.unhealthy.load(Ordering::Relaxed)
    }

    /// The dataset called `name` (case-insensitive), if `visibility` allows it.
    pub fn visible_dataset(&self, name: &str, visibility: &Visibility) -> Option<(u32, &Dataset)> {
        let ordinal = *self.by_name.get(&name.to_lowercase())?;
        self.is_visible(ordinal, visibility)
            .then(|| (ordinal, &self.catalog.datasets[ordinal as usize]))
    }

    /// Whether `visibility` sees every dataset of this version (then filtering is moot).
    pub fn all_visible(&self, visibility: &Visibility) -> bool {
        self.acl_sets.iter().all(|acl| visibility.allows(acl))
    }

    pub fn is_visible(&self, ordinal: u32, visibility: &Visibility) -> bool {
        self.acl
            .get(ordinal as usize)
            .is_some_and(|acl| visibility.allows(acl))
    }

    /// The semantic index, when it is ready.
    pub fn semantic(&self) -> Option<Arc<SemanticIndex>> {
        self.semantic.load_full()
    }

    /// Gives the snapshot its semantic index (when background embedding completes).
    pub fn set_semantic(&self, index: SemanticIndex) {
        self.semantic.store(Some(Arc::new(index)));
    }

    /// The ordinal of the dataset called `name` (case-insensitive), visible or not: for
    /// signals keyed by name (feedback votes), never for showing.
    pub fn ordinal(&self, name: &str) -> Option<u32> {
        self.by_name.get(&name.to_lowercase()).copied()
    }

    /// Free text (a description) as `visibility` may see it: names of datasets it may not see
    /// are replaced.
    pub fn redact(&self, text: &str, visibility: &Visibility) -> String {
        if matches!(visibility, Visibility::All) {
            return text.to_string();
        }
        self.redactor
            .redact(text, |ordinal| self.is_visible(ordinal, visibility))
    }

    /// The dataset as `visibility` may see it: `None` when it may not see it; otherwise the
    /// dataset with every text field redacted (names of datasets the caller may not see
    /// replaced), borrowed when there is nothing to hide. Every path that shows a dataset
    /// (search, suggest, pages, ask, prompts, MCP) goes through here.
    pub fn view(&self, ordinal: u32, visibility: &Visibility) -> Option<Cow<'_, Dataset>> {
        if !self.is_visible(ordinal, visibility) {
            return None;
        }
        let dataset = self.dataset(ordinal)?;
        let mentions = self.mentions.get(ordinal as usize)?;
        if mentions.iter().all(|&m| self.is_visible(m, visibility)) {
            return Some(Cow::Borrowed(dataset));
        }
        Some(Cow::Owned(
            dataset.map_texts(|text| self.redact(text, visibility)),
        ))
    }

    /// The ordinals of the visible datasets, in catalog order.
    pub fn visible_ordinals<'a>(
        &'a self,
        visibility: &'a Visibility,
    ) -> impl Iterator<Item = u32> + 'a {
        let all = self.all_visible(visibility);
        (0..self.catalog.datasets.len() as u32)
            .filter(move |&ordinal| all || self.is_visible(ordinal, visibility))
    }

    /// The domains of the datasets `visibility` may see, as it sees them (redacted), with how
    /// many of those datasets each has; sorted by name. A domain only hidden datasets have is
    /// not listed.
    pub fn domains(&self, visibility: &Visibility) -> Vec<(String, usize)> {
        let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
        for ordinal in self.visible_ordinals(visibility) {
            if let Some(domain) = self
                .view(ordinal, visibility)
                .and_then(|d| d.domain.clone())
                .filter(|d| !d.trim().is_empty())
            {
                *counts.entry(domain).or_default() += 1;
            }
        }
        counts.into_iter().collect()
    }

    /// The visible datasets of `domain` (case-insensitive, as [`Snapshot::domains`] names it),
    /// in catalog order.
    pub fn in_domain(&self, domain: &str, visibility: &Visibility) -> Vec<u32> {
        let wanted = domain.trim().to_lowercase();
        self.visible_ordinals(visibility)
            .filter(|&ordinal| {
                self.view(ordinal, visibility)
                    .and_then(|d| d.domain.as_ref().map(|d| d.trim().to_lowercase() == wanted))
                    .unwrap_or(false)
            })
            .collect()
    }

    /// A dataset by ordinal, unredacted: for ranking and bookkeeping, never for showing
    /// (see [`Snapshot::view`]).
    pub fn dataset(&self, ordinal: u32) -> Option<&Dataset> {
        self.catalog.datasets.get(ordinal as usize)
    }
}

/// For each dataset, the other datasets its text fields mention.
fn mentions(catalog: &Catalog, redactor: &Redactor) -> Vec<Box<[u32]>> {
    catalog
        .datasets
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut found: Vec<u32> = d
                .texts()
                .into_iter()
                .flat_map(|t| redactor.mentioned(t).collect::<Vec<_>>())
                .filter(|&m| m != i as u32)
                .collect();
            found.sort_unstable();
            found.dedup();
            found.into_boxed_slice()
        })
        .collect()
}
