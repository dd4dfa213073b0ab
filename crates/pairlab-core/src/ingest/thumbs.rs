//! The thumbnail cache: encoded thumbnails stored by content hash, written through
//! temporary files that a killed run's successor cleans up.

use std::path::Path;

/// Stores an encoded thumbnail as `<dir>/<h0h1>/<hash>.<ext>` unless it exists; returns
/// the path relative to `dir`.
pub(super) fn write_thumb_bytes(
    dir: &Path,
    hash: &str,
    format: &str,
    bytes: &[u8],
) -> std::io::Result<String> {
    let ext = if format == "jpeg" { "jpg" } else { format };
    let rel = format!("{}/{hash}.{ext}", &hash[..2]);
    let path = dir.join(&rel);
    if path.exists() {
        return Ok(rel);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Write to a private temporary name beside the thumbnail, then rename: a crash never
    // leaves half a file, and two workers writing the same thumbnail (duplicate images)
    // never collide. The name carries the process id, so that what a killed run left
    // behind is recognised (`ThumbnailRun`).
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{rel}.{}-{n}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    if let Err(e) = std::fs::rename(&tmp, &path) {
        std::fs::remove_file(&tmp).ok();
        return Err(e);
    }
    Ok(rel)
}

/// Marks that this process writes thumbnails into a cache folder, for as long as it lives:
/// a `.writing-<pid>` file that a run removes when it ends, however it returns. A run
/// killed mid-way leaves its marker, and the next run's `ThumbnailRun::start` then removes
/// that process's temporary files (the whole cache is listed only in that case).
pub struct ThumbnailRun {
    marker: std::path::PathBuf,
}

impl ThumbnailRun {
    pub fn start(thumbs: &Path) -> ThumbnailRun {
        let me = std::process::id();
        let marker = thumbs.join(format!(".writing-{me}"));
        let _ = std::fs::create_dir_all(thumbs);
        let _ = std::fs::write(&marker, b"");
        let dead: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(thumbs)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name.strip_prefix(".writing-")?.parse::<u32>().ok()?;
                (pid != me && !Path::new(&format!("/proc/{pid}")).exists()).then(|| (pid, e.path()))
            })
            .collect();
        for (pid, stale) in dead {
            remove_tmp_of(thumbs, pid);
            let _ = std::fs::remove_file(stale);
        }
        ThumbnailRun { marker }
    }
}

impl Drop for ThumbnailRun {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.marker);
    }
}

/// Removes the temporary thumbnails (`<name>.<pid>-<n>.tmp`) of process `pid`; returns
/// how many.
fn remove_tmp_of(thumbs: &Path, pid: u32) -> usize {
    let infix = format!(".{pid}-");
    let mut removed = 0;
    for sub in std::fs::read_dir(thumbs).into_iter().flatten().flatten() {
        if !sub.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        for e in std::fs::read_dir(sub.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp")
                && name.contains(&infix)
                && std::fs::remove_file(e.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}
