//! Walking a corpus folder: every file with its size and mtime, and a clear error for
//! every entry that cannot be read (symlink loops, dangling links, unreadable folders).

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::{ErrorKind, IngestError};

/// A file found under the corpus root.
#[derive(Clone, Debug)]
pub struct FileRef {
    pub abs: PathBuf,
    /// Path relative to the corpus root, with `/` separators.
    pub rel: String,
    pub size: u64,
    pub mtime_ns: i64,
}

impl FileRef {
    /// The file name's extension in lower case ("" when none).
    pub fn ext(&self) -> String {
        Path::new(&self.rel)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The file name without its extension.
    pub fn stem(&self) -> String {
        Path::new(&self.rel)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The relative folder holding the file ("" at the root).
    pub fn dir(&self) -> &str {
        self.rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
    }

    /// Stats `abs` and builds a reference with `rel` as its corpus-relative path.
    pub fn stat(abs: PathBuf, rel: String) -> std::io::Result<FileRef> {
        let md = std::fs::metadata(&abs)?;
        if !md.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        Ok(FileRef {
            size: md.len(),
            mtime_ns: mtime_ns(&md),
            abs,
            rel,
        })
    }
}

pub fn mtime_ns(md: &std::fs::Metadata) -> i64 {
    md.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Corpus-relative path of `path` under `root`, `/`-separated.
pub fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// `path` with every symbolic link resolved, when that lies under `root_canon` (itself
/// canonical); `None` when it resolves outside it or cannot be resolved.
pub fn contained(root_canon: &Path, path: &Path) -> Option<PathBuf> {
    path.canonicalize()
        .ok()
        .filter(|p| p.starts_with(root_canon))
}

/// Everything under `root`, skipping hidden entries and `skip` (e.g. the library folder
/// when it lies inside the corpus). Symbolic links are followed while they resolve inside
/// the root; one that leads outside it is an error row and is not followed, so nothing a
/// corpus names is read from outside it.
pub fn walk(root: &Path, skip: Option<&Path>) -> (Vec<FileRef>, Vec<IngestError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let done: Result<(), std::convert::Infallible> =
        walk_each(root, skip, true, &mut errors, |f| {
            files.push(f);
            Ok(())
        });
    let Ok(()) = done;
    (files, errors)
}

/// [`walk`] one file at a time, holding nothing: `each` gets every file, and a folder's
/// files come together, by name, before any of its sub-folders (so when a file of another
/// folder comes, the folder before is complete). Problems go to `errors`; an error from
/// `each` stops the walk. Without `stat`, files come with size and mtime 0 (one system
/// call less per file, for a walk that only looks at names).
pub fn walk_each<E>(
    root: &Path,
    skip: Option<&Path>,
    stat: bool,
    errors: &mut Vec<IngestError>,
    mut each: impl FnMut(FileRef) -> Result<(), E>,
) -> Result<(), E> {
    let root_canon = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let mut walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by(|a, b| {
            // A link counts as what it leads to (a followed folder link after the files).
            let key = |e: &walkdir::DirEntry| match e.path_is_symlink() {
                true => e.path().is_dir(),
                false => e.file_type().is_dir(),
            };
            key(a)
                .cmp(&key(b))
                .then_with(|| a.file_name().cmp(b.file_name()))
        })
        .into_iter()
        .filter_entry(|e| {
            let hidden = e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.');
            let skipped = skip.is_some_and(|s| e.path() == s);
            !hidden && !skipped
        });
    while let Some(entry) = walker.next() {
        if let Ok(e) = &entry
            && e.depth() > 0
            && e.path_is_symlink()
            && contained(&root_canon, e.path()).is_none()
        {
            errors.push(IngestError::new(
                rel_path(root, e.path()),
                ErrorKind::OutsideRoot,
                "symbolic link to a path outside the corpus root; not followed (index that \
                 folder as a corpus of its own)",
            ));
            if e.file_type().is_dir() {
                walker.skip_current_dir();
            }
            continue;
        }
        match entry {
            Ok(e) if e.file_type().is_file() && !stat => each(FileRef {
                rel: rel_path(root, e.path()),
                abs: e.path().to_owned(),
                size: 0,
                mtime_ns: 0,
            })?,
            Ok(e) if e.file_type().is_file() => match e.metadata() {
                Ok(md) => each(FileRef {
                    rel: rel_path(root, e.path()),
                    abs: e.path().to_owned(),
                    size: md.len(),
                    mtime_ns: mtime_ns(&md),
                })?,
                Err(err) => errors.push(IngestError::new(
                    rel_path(root, e.path()),
                    ErrorKind::Unreadable,
                    format!("cannot read file metadata: {err}"),
                )),
            },
            Ok(_) => {}
            Err(err) => {
                let path = err
                    .path()
                    .map(|p| rel_path(root, p))
                    .unwrap_or_else(|| ".".into());
                let (kind, message) = if let Some(ancestor) = err.loop_ancestor() {
                    let to = match rel_path(root, ancestor) {
                        r if r.is_empty() => "the corpus folder itself".to_owned(),
                        r => r,
                    };
                    (
                        ErrorKind::SymlinkLoop,
                        format!("symbolic link loop back to {to}; not followed"),
                    )
                } else {
                    let io = err
                        .io_error()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| err.to_string());
                    (ErrorKind::Unreadable, format!("cannot read: {io}"))
                };
                errors.push(IngestError::new(path, kind, message));
            }
        }
    }
    Ok(())
}
