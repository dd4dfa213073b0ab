//! The UI's TypeScript types, generated from the API's Rust types with ts-rs, and the
//! route table as `routes.ts`. The test below fails when `ui/src/bindings/` is stale;
//! `PAIRLAB_UPDATE_BINDINGS=1 cargo test --workspace bindings` rewrites it.

use std::collections::BTreeMap;
use std::path::Path;

use ts_rs::TS;

use crate::error::{Error, Result};

/// Every file of the bindings folder: name → content.
pub fn files() -> Result<BTreeMap<String, String>> {
    let tmp = std::env::temp_dir().join(format!("pairlab-bindings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let out = export_into(&tmp);
    let read = out.and_then(|()| read_dir(&tmp));
    let _ = std::fs::remove_dir_all(&tmp);
    let mut files = read?;
    for text in files.values_mut() {
        // i64 and u64 travel as JSON numbers (ids and counts stay below 2^53).
        *text = text.replace("bigint", "number");
    }
    files.insert("routes.ts".into(), super::routes::typescript());
    Ok(files)
}

/// Exports every endpoint's argument and answer types (with what they refer to), the
/// types the UI reads from inside a JSON value (a finished job's `result`) and the kinds
/// of error.
fn export_into(dir: &Path) -> Result<()> {
    let mut export = Export { dir, failed: None };
    super::endpoints::visit(&mut export);
    ts_rs::TypeVisitor::visit::<crate::ingest::IndexSummary>(&mut export);
    ts_rs::TypeVisitor::visit::<crate::export::ExportSummary>(&mut export);
    ts_rs::TypeVisitor::visit::<crate::labels::import::ImportSummary>(&mut export);
    ts_rs::TypeVisitor::visit::<crate::error::ErrorKind>(&mut export);
    match export.failed {
        Some(e) => Err(Error::Invalid(format!("ts-rs: {e}"))),
        None => Ok(()),
    }
}

struct Export<'a> {
    dir: &'a Path,
    failed: Option<ts_rs::ExportError>,
}

impl ts_rs::TypeVisitor for Export<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        if T::output_path().is_none() {
            // An array, an option or a primitive: export what it holds.
            return T::visit_generics(self);
        }
        if let Err(e) = T::export_all_to(self.dir) {
            self.failed.get_or_insert(e);
        }
    }
}

impl super::Visit for Export<'_> {
    fn endpoint<E: super::Endpoint>(&mut self) {
        ts_rs::TypeVisitor::visit::<E::Args>(self);
        ts_rs::TypeVisitor::visit::<E::Answer>(self);
    }
}

/// The files under `dir` (recursively), by path relative to it.
fn read_dir(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::io(dir, std::io::Error::other(e)))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let rel = path.strip_prefix(dir).unwrap_or(path);
        out.insert(rel.to_string_lossy().replace('\\', "/"), text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_in_the_ui_are_up_to_date() -> Result<()> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings");
        let want = files()?;
        if std::env::var_os("PAIRLAB_UPDATE_BINDINGS").is_some() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            for (name, text) in &want {
                let path = dir.join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
            }
        }
        let have = read_dir(&dir).unwrap_or_default();
        let stale: Vec<&String> = want
            .keys()
            .chain(have.keys())
            .filter(|k| want.get(*k) != have.get(*k))
            .collect();
        assert!(
            stale.is_empty(),
            "ui/src/bindings is stale ({stale:?}); run PAIRLAB_UPDATE_BINDINGS=1 cargo test --workspace bindings"
        );
        assert!(want.contains_key("PairDetail.ts") && want.contains_key("routes.ts"));
        Ok(())
    }
}
