//! The on-disk indexes of catalog versions: one directory per version (`v<N>`) under the
//! store instance's index root; builds in progress are `.building-*` siblings.

use std::path::{Path, PathBuf};

/// The index directory of `version`.
pub fn version_dir(root: &Path, version: i64) -> PathBuf {
    root.join(format!("v{version}"))
}

/// Removes index builds a crash interrupted (finished builds are renamed to `v<N>`) and
/// damaged indexes moved aside by an earlier run.
pub fn remove_unfinished(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(".building-") || name.starts_with(".damaged-") {
            tracing::info!(path = %entry.path().display(), "removing an interrupted or damaged index");
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(error = %e, "could not remove an interrupted or damaged index");
            }
        }
    }
}

/// Removes index directories of versions beyond the newest `keep` (never `active`'s).
pub fn remove_old(root: &Path, keep: usize, active: Option<i64>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut versions: Vec<(i64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let v = name.strip_prefix('v')?.parse::<i64>().ok()?;
            Some((v, e.path()))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    for (v, path) in versions.into_iter().skip(keep.max(1)) {
        if Some(v) != active
            && let Err(e) = std::fs::remove_dir_all(&path)
        {
            tracing::warn!(error = %e, path = %path.display(), "could not remove old index");
        }
    }
}

/// Moves a damaged index directory out of the way (`.damaged-<version dir>-<time>`), to be
/// looked at or deleted; removes it when it cannot be moved.
pub fn move_aside(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let name = dir
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().to_string());
    let aside = dir.with_file_name(format!(".damaged-{name}-{}", crate::clock::now_ms()));
    if let Err(e) = std::fs::rename(dir, &aside) {
        tracing::warn!(error = %e, "could not move the damaged index aside; removing it");
        if let Err(e) = std::fs::remove_dir_all(dir) {
            tracing::error!(error = %e, path = %dir.display(), "could not remove the damaged index");
        }
    }
}
