//! `pairlab serve`: the HTTP/JSON API (and the built UI, when there is one) over the
//! library, through pairlab-server.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pairlab_core::Library;
use pairlab_server::AppState;

/// The built UI when `--ui` is not given: where the Debian package puts it beside the
/// program (`/usr/bin/pairlab` → `/usr/share/pairlab/ui`), else the one built next to the
/// sources (`ui/dist`, a developer's build).
fn default_ui() -> Option<PathBuf> {
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share/pairlab/ui")));
    let built = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ui")
        .join("dist");
    installed
        .into_iter()
        .chain([built])
        .find(|dir| dir.join("index.html").is_file())
}

/// A host part for a URL (IPv6 in brackets).
fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

pub fn serve(
    library: &Path,
    bind: IpAddr,
    port: u16,
    token: Option<String>,
    ui: Option<PathBuf>,
) -> Result<()> {
    // Open once here: creates or migrates the library, and fails early when it cannot.
    let users = Library::open(library)
        .and_then(|lib| lib.users())
        .with_context(|| format!("cannot open the library at {}", library.display()))?;
    let active = users.iter().filter(|u| u.revoked_at.is_none()).count();
    let ui = match ui {
        Some(dir) if !dir.is_dir() => anyhow::bail!("--ui {}: no such folder", dir.display()),
        Some(dir) => Some(dir),
        None => default_ui(),
    };
    let generated = token.is_none() && !bind.is_loopback();
    let token = match token {
        Some(t) if t.trim().is_empty() => anyhow::bail!("--token must not be empty"),
        Some(t) => Some(t),
        None if generated => Some(pairlab_server::random_token()),
        None => None,
    };
    let state = AppState::new(library)
        .with_token(token.clone())
        .with_ui(ui.clone());
    pairlab_server::serve(SocketAddr::new(bind, port), state, |addr| {
        let url = format!("http://{}:{}/", host(addr.ip()), addr.port());
        println!("Pairlab serving {} at {url}", library.display());
        match &token {
            Some(t) if generated => {
                println!(
                    "  {} is not a loopback address, so an access token was made.",
                    addr.ip()
                );
                println!("  Open: {url}?token={t}");
                println!("  API clients: send `Authorization: Bearer {t}`");
            }
            Some(_) => println!("  Requests need the token given with --token."),
            None => {}
        }
        if active > 0 {
            println!(
                "  {active} user account(s) active: every request needs a user's token, each \
                 call is checked against the user's role (pairlab users list); refusals are \
                 logged here."
            );
        }
        match &ui {
            Some(dir) => println!("  UI from {}", dir.display()),
            None => {
                println!("  No UI folder (build ui/ into ui/dist or pass --ui DIR); API under /api")
            }
        }
        println!("  Ctrl-C stops.");
    })
    .with_context(|| format!("cannot serve on {}:{port}", host(bind)))?;
    Ok(())
}
