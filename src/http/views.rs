//! The admin API's bodies: view structs that carry the OpenAPI schemas, built from the store's
//! and catalog's own types (which know nothing of the web).

use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::{
    Access, CatalogDiff, CatalogProblem, ColumnRef, DiffCounts, InvalidCatalog, SecurityChange,
};
use crate::governance::ApiKeyRecord;
use crate::governance::GapGroup;
use crate::retrieval::present::SensitivityLevel;
use crate::versions::{AuditEntry, SourceInfo, SyncRecord, VersionInfo, format_every};

/// Metadata about one catalog version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub version: i64,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    pub created_by: String,
    /// `directory`, `upload`, `merge`, `cli`.
    pub source: String,
    pub datasets: i64,
    pub columns: i64,
    pub note: Option<String>,
    pub active: bool,
    /// When the version was first made active; `null` if it never was (an interrupted load).
    pub activated_at_ms: Option<i64>,
}

impl From<VersionInfo> for VersionView {
    fn from(v: VersionInfo) -> VersionView {
        VersionView {
            version: v.version,
            created_at_ms: v.created_at_ms,
            created_by: v.created_by,
            source: v.source,
            datasets: v.datasets,
            columns: v.columns,
            note: v.note,
            active: v.active,
            activated_at_ms: v.activated_at_ms,
        }
    }
}

/// One line of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub at_ms: i64,
    /// Token id of the admin, or `startup`, `sighup`, `cli`.
    pub actor: String,
    /// `load`, `merge`, `reload`, `activate`, `sync`, `crawl`, `register_source`,
    /// `delete_source`.
    pub action: String,
    pub version: Option<i64>,
    /// `ok`, `invalid`, `busy`, `error`, `unchanged`, `dry_run`, `not_found`,
    /// `source_failed`, `declassification_refused`, `storage_full`.
    pub outcome: String,
    pub detail: Option<String>,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> AuditView {
        AuditView {
            at_ms: e.at_ms,
            actor: e.actor,
            action: e.action,
            version: e.version,
            outcome: e.outcome,
            detail: e.detail,
        }
    }
}

/// An API key (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    /// Groups whose confidential and restricted datasets the key may see.
    pub groups: Vec<String>,
    pub created_at_ms: i64,
    pub created_by: String,
    pub revoked_at_ms: Option<i64>,
}

impl From<ApiKeyRecord> for KeyView {
    fn from(k: ApiKeyRecord) -> KeyView {
        KeyView {
            id: k.id,
            name: k.name,
            groups: k.groups,
            created_at_ms: k.created_at_ms,
            created_by: k.created_by,
            revoked_at_ms: k.revoked_at_ms,
        }
    }
}

/// A column, named with its dataset.
#[derive(Debug, Serialize, ToSchema)]
pub struct ColumnRefView {
    pub dataset: String,
    pub column: String,
}

impl From<ColumnRef> for ColumnRefView {
    fn from(c: ColumnRef) -> ColumnRefView {
        ColumnRefView {
            dataset: c.dataset,
            column: c.column,
        }
    }
}

/// How many of each change (always complete, even when the lists are truncated).
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffCountsView {
    pub datasets_added: usize,
    pub datasets_removed: usize,
    pub datasets_changed: usize,
    pub columns_added: usize,
    pub columns_removed: usize,
    pub relationships_added: usize,
    pub relationships_removed: usize,
    pub terms_added: usize,
    pub terms_removed: usize,
    pub terms_changed: usize,
}

impl From<DiffCounts> for DiffCountsView {
    fn from(c: DiffCounts) -> DiffCountsView {
        DiffCountsView {
            datasets_added: c.datasets_added,
            datasets_removed: c.datasets_removed,
            datasets_changed: c.datasets_changed,
            columns_added: c.columns_added,
            columns_removed: c.columns_removed,
            relationships_added: c.relationships_added,
            relationships_removed: c.relationships_removed,
            terms_added: c.terms_added,
            terms_removed: c.terms_removed,
            terms_changed: c.terms_changed,
        }
    }
}

/// Who may see a dataset.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessView {
    pub sensitivity: SensitivityLevel,
    pub allowed_groups: Vec<String>,
}

impl From<Access> for AccessView {
    fn from(a: Access) -> AccessView {
        AccessView {
            sensitivity: a.sensitivity.into(),
            allowed_groups: a.allowed_groups,
        }
    }
}

/// A change of who may see a dataset.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityChangeView {
    pub dataset: String,
    pub before: AccessView,
    pub after: AccessView,
    /// Someone who could not see the dataset before can see it after (a declassification,
    /// which needs `allow_declassify=true`).
    pub widens: bool,
}

impl From<SecurityChange> for SecurityChangeView {
    fn from(c: SecurityChange) -> SecurityChangeView {
        SecurityChangeView {
            dataset: c.dataset,
            before: c.before.into(),
            after: c.after.into(),
            widens: c.widens,
        }
    }
}

/// What changed; each list holds at most 1,000 names (`truncated` says so).
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffView {
    pub counts: DiffCountsView,
    pub truncated: bool,
    /// Every change of sensitivity or allowed groups.
    pub security_changes: Vec<SecurityChangeView>,
    pub datasets_added: Vec<String>,
    pub datasets_removed: Vec<String>,
    /// Datasets present in both whose metadata or columns differ.
    pub datasets_changed: Vec<String>,
    pub columns_added: Vec<ColumnRefView>,
    pub columns_removed: Vec<ColumnRefView>,
    /// Relationships that appear or disappear (`a.t.col → b.u.col`, or `a.t ⇐ b.u` for
    /// lineage).
    pub relationships_added: Vec<String>,
    pub relationships_removed: Vec<String>,
    /// Glossary terms added, removed, or whose definition, synonyms, links or owner changed.
    pub terms_added: Vec<String>,
    pub terms_removed: Vec<String>,
    pub terms_changed: Vec<String>,
}

impl From<CatalogDiff> for DiffView {
    fn from(d: CatalogDiff) -> DiffView {
        DiffView {
            counts: d.counts.into(),
            truncated: d.truncated,
            security_changes: d.security_changes.into_iter().map(Into::into).collect(),
            datasets_added: d.datasets_added,
            datasets_removed: d.datasets_removed,
            datasets_changed: d.datasets_changed,
            columns_added: d.columns_added.into_iter().map(Into::into).collect(),
            columns_removed: d.columns_removed.into_iter().map(Into::into).collect(),
            relationships_added: d.relationships_added,
            relationships_removed: d.relationships_removed,
            terms_added: d.terms_added,
            terms_removed: d.terms_removed,
            terms_changed: d.terms_changed,
        }
    }
}

/// One thing wrong with an input file.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemView {
    pub file: String,
    /// 1-based line of the record (the header is line 1).
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl From<CatalogProblem> for ProblemView {
    fn from(p: CatalogProblem) -> ProblemView {
        ProblemView {
            file: p.file,
            line: p.line,
            field: p.field,
            message: p.message,
        }
    }
}

/// A rejected load: the problems found (at most 100) and how many there were.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvalidCatalogView {
    pub problems: Vec<ProblemView>,
    pub total_problems: usize,
}

impl From<InvalidCatalog> for InvalidCatalogView {
    fn from(i: InvalidCatalog) -> InvalidCatalogView {
        InvalidCatalogView {
            problems: i.problems.into_iter().map(Into::into).collect(),
            total_problems: i.total_problems,
        }
    }
}

/// One group of similar questions the catalog answered badly.
#[derive(Debug, Serialize, ToSchema)]
pub struct GapGroupView {
    /// The words the questions share (stemmed), which groups them.
    pub key: String,
    /// The most recent question of the group, as asked.
    pub example: String,
    /// Other questions of the group (at most 5).
    pub variants: Vec<String>,
    pub asked: usize,
    /// Asked with no visible result.
    pub no_result: usize,
    /// Asked with low retrieval confidence.
    pub low_confidence: usize,
    /// "Not helpful" votes on the group's questions.
    pub not_helpful: i64,
    /// Datasets most often returned first.
    pub top_datasets: Vec<String>,
    pub last_asked_ms: i64,
}

impl From<GapGroup> for GapGroupView {
    fn from(g: GapGroup) -> GapGroupView {
        GapGroupView {
            key: g.key,
            example: g.example,
            variants: g.variants,
            asked: g.asked,
            no_result: g.no_result,
            low_confidence: g.low_confidence,
            not_helpful: g.not_helpful,
            top_datasets: g.top_datasets,
            last_asked_ms: g.last_asked_ms,
        }
    }
}

/// The counts of what a sync changed.
#[derive(Debug, Default, Serialize, serde::Deserialize, ToSchema)]
#[serde(default)]
pub struct SyncDiffView {
    pub datasets_added: usize,
    pub datasets_removed: usize,
    pub datasets_changed: usize,
    pub columns_added: usize,
    pub columns_removed: usize,
    /// Changes of sensitivity or allowed groups.
    pub security_changes: usize,
}

/// One sync of a source.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncView {
    pub source: String,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    /// Token id of the admin, or `schedule`.
    pub actor: String,
    /// `ok` (a new version), `unchanged` (no version created), `dry_run`, `invalid`,
    /// `source_failed`, `declassification_refused`, `busy`, `storage_full`, `error`.
    pub outcome: String,
    /// The version live after the sync.
    pub version: Option<i64>,
    pub datasets: Option<i64>,
    pub columns: Option<i64>,
    /// What the sync changed (absent when it failed).
    pub diff: Option<SyncDiffView>,
    /// What failed, or the curated rows that did not apply.
    pub detail: Option<String>,
}

impl From<SyncRecord> for SyncView {
    fn from(s: SyncRecord) -> SyncView {
        SyncView {
            diff: s.diff.as_deref().and_then(|d| serde_json::from_str(d).ok()),
            source: s.source_id,
            started_at_ms: s.started_at_ms,
            finished_at_ms: s.finished_at_ms,
            actor: s.actor,
            outcome: s.outcome,
            version: s.version,
            datasets: s.datasets,
            columns: s.columns,
            detail: s.detail,
        }
    }
}

/// A registered source: its settings (never a secret: a database is named by the
/// environment variable that holds its connection string), schedule and last sync.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    pub id: String,
    /// `postgres`, `sqlite`, `dbt` or `yaml`.
    pub kind: String,
    /// The environment variable holding the connection string (its value is never shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub schemas: Vec<String>,
    pub exclude: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    pub files: Vec<String>,
    pub curated: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_timeout_ms: Option<u64>,
    /// The schedule (`6h`); `null`: synced only on request.
    pub every: Option<String>,
    pub created_at_ms: i64,
    pub created_by: String,
    pub last_sync: Option<SyncView>,
}

impl From<SourceInfo> for SourceView {
    fn from(s: SourceInfo) -> SourceView {
        let c = s.spec.config;
        let path = |p: std::path::PathBuf| p.display().to_string();
        SourceView {
            id: s.spec.id,
            kind: s.spec.kind.as_str().to_string(),
            connection_env: c.connection_env,
            path: c.path.map(path),
            schemas: c.schemas,
            exclude: c.exclude,
            manifest: c.manifest.map(path),
            catalog: c.catalog.map(path),
            files: c.files.into_iter().map(path).collect(),
            curated: c.curated.into_iter().map(path).collect(),
            statement_timeout_ms: c.statement_timeout_ms,
            every: s.every.map(|d| format_every(d.as_secs())),
            created_at_ms: s.created_at_ms,
            created_by: s.created_by,
            last_sync: s.last_sync.map(Into::into),
        }
    }
}
