// Included by the build scripts of the `pairlab` CLI and the desktop app: sets
// `PAIRLAB_COMMIT`, the commit a binary was built from, for `--version` and About.
// `PAIRLAB_COMMIT` in the build's environment wins (a build from a source tarball has no
// git); else `git rev-parse` in the checkout; else "unknown". The script runs again when
// HEAD moves (a commit, a checkout), so the answer never goes stale.

fn emit_commit() {
    println!("cargo:rerun-if-env-changed=PAIRLAB_COMMIT");
    let commit = std::env::var("PAIRLAB_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PAIRLAB_COMMIT={}", commit.trim());
}

fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // What moves HEAD: HEAD itself (checkout), the branch's ref file (commit) and
    // packed-refs (gc). Only files that exist: a missing one would rerun every build.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(commit)
}
