//! The export folder: made ready (an earlier Pairlab export in it replaced, anything else
//! refused), written through a staging folder inside it, published at the end.

use std::path::{Component, Path, PathBuf};

use super::{ExportFile, ExportSummary, MANIFEST, PARTIAL};
use crate::error::{Error, Result};

pub(super) fn absolute(p: &Path) -> Result<PathBuf> {
    if p.as_os_str().is_empty() {
        return Err(Error::field("out", "name the export folder"));
    }
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io(".", e))?
            .join(p)
    };
    if abs.components().any(|c| c == Component::ParentDir) {
        return Err(Error::field(
            "out",
            "the export folder's path may not contain `..`",
        ));
    }
    Ok(abs)
}

/// Makes the export folder ready: created when missing. When it holds an earlier Pairlab
/// export (its `pairlab-export.json`), what that export made at the folder's top — its
/// files' first folders (`data`, split folders), `images`, the card and the manifest — is
/// removed; anything else at the top makes it refuse, removing nothing. Answers the
/// (fresh) staging folder inside it.
pub(super) fn prepare_out(out: &Path) -> Result<PathBuf> {
    if out.exists() && !out.is_dir() {
        return Err(Error::field(
            "out",
            format!("{} is a file, not a folder", out.display()),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let staging = out.join(PARTIAL);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    let manifest = out.join(MANIFEST);
    let earlier: Option<ExportSummary> = std::fs::read(&manifest)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    // What an earlier export made at the top of the folder: its files' first folders, its
    // parts' folders, `images` and the manifest.
    let mut ours: std::collections::HashSet<std::ffi::OsString> = std::collections::HashSet::new();
    if let Some(earlier) = &earlier {
        for f in &earlier.files {
            if let Some(Component::Normal(first)) = Path::new(&f.path).components().next() {
                ours.insert(first.to_owned());
            }
        }
        ours.extend(earlier.parts.iter().map(|p| p.part.clone().into()));
        ours.extend(
            earlier
                .parts
                .iter()
                .map(|p| super::hf_split(&p.part).to_owned().into()),
        );
        ours.insert("images".into());
        ours.insert(MANIFEST.into());
    }
    let mut tops = Vec::new();
    let mut others = Vec::new();
    for entry in std::fs::read_dir(out).map_err(|e| Error::io(out, e))? {
        let entry = entry.map_err(|e| Error::io(out, e))?;
        let name = entry.file_name();
        if name == PARTIAL {
            continue;
        }
        if ours.contains(&name) {
            tops.push(entry.path());
        } else {
            others.push(name.to_string_lossy().into_owned());
        }
    }
    if !others.is_empty() {
        others.sort();
        return Err(Error::Conflict(format!(
            "{} is not empty and holds files no Pairlab export wrote ({}): choose an empty or new folder",
            out.display(),
            others.into_iter().take(5).collect::<Vec<_>>().join(", ")
        )));
    }
    for p in tops {
        let gone = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        gone.map_err(|e| Error::io(&p, e))?;
    }
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    Ok(staging)
}

/// Moves the staged files into the export folder and writes the manifest.
pub(super) fn publish(
    staging: &Path,
    out: &Path,
    files: Vec<String>,
    summary: &mut ExportSummary,
) -> Result<()> {
    let mut listed = Vec::new();
    for rel in files {
        let from = staging.join(&rel);
        let bytes = std::fs::metadata(&from)
            .map_err(|e| Error::io(&from, e))?
            .len();
        listed.push(ExportFile { path: rel, bytes });
    }
    listed.sort_by(|a, b| a.path.cmp(&b.path));
    // Every top-level entry of the staging folder moves up as a whole (images included).
    let mut tops: Vec<PathBuf> = std::fs::read_dir(staging)
        .map_err(|e| Error::io(staging, e))?
        .map(|e| {
            e.map(|e| PathBuf::from(e.file_name()))
                .map_err(|e| Error::io(staging, e))
        })
        .collect::<Result<_>>()?;
    tops.sort();
    for top in tops {
        let to = out.join(&top);
        if to.exists() {
            return Err(Error::Conflict(format!(
                "{} appeared during the export",
                to.display()
            )));
        }
        std::fs::rename(staging.join(&top), &to).map_err(|e| Error::io(&to, e))?;
    }
    std::fs::remove_dir(staging).map_err(|e| Error::io(staging, e))?;
    summary.files = listed;
    let manifest = out.join(MANIFEST);
    let mut text =
        serde_json::to_string_pretty(summary).map_err(|e| Error::Invalid(e.to_string()))?;
    text.push('\n');
    std::fs::write(&manifest, text).map_err(|e| Error::io(&manifest, e))?;
    Ok(())
}
