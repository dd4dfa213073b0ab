//! The optional access token. When the state has one, a request must carry it as
//! `Authorization: Bearer <token>`, as `?token=<token>` (so `<img src>` and a first
//! page load work) or as the `pairlab_token` cookie, which a request authenticated by
//! `?token=` receives so that the UI's own files and later requests need nothing more.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;

use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use pairlab_core::api::routes::ROUTES;
use pairlab_core::error::ErrorKind;
use pairlab_core::library::DB_FILE;
use pairlab_core::users::{self, User};

use crate::{ApiError, AppState};

const COOKIE_NAME: &str = "pairlab_token";

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn query_token(uri: &Uri) -> Option<String> {
    let Query(mut q) = Query::<HashMap<String, String>>::try_from_uri(uri).ok()?;
    q.remove("token")
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
}

/// True when a `Host` header names this machine by a loopback name (any port).
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The user a request was authenticated as, on a server with user accounts; handlers
/// take the annotator of a label from it.
#[derive(Clone, Debug)]
pub struct CurrentUser(pub User);

fn deny(status: StatusCode, kind: ErrorKind, why: String, req: &Request) -> Response {
    // Every refusal is logged (never a token): who was refused what, and why.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    eprintln!(
        "pairlab serve: denied {} {} at {now} (unix s): {why}",
        req.method(),
        req.uri().path()
    );
    let mut res = ApiError::new(status, kind, why).into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    res
}

fn with_cookie(mut res: Response, token: &str) -> Response {
    let cookie = format!("{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(SET_COOKIE, v);
    }
    res
}

/// The middleware.
/// - The server's own token (`--token`) grants everything, as before accounts existed.
/// - While any user account is active, every request must carry an active user's token;
///   the call must be allowed to the user's role (the route table says which role each
///   call needs), and the user rides along to the handler ([`CurrentUser`]).
/// - Without accounts or a token (a loopback server) it only refuses requests whose
///   `Host` is not a loopback name: a web page elsewhere cannot reach the library by
///   pointing its own host name at 127.0.0.1 (DNS rebinding). With a token and no
///   accounts, every request must carry the token.
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let offered = [
        bearer(req.headers()).map(str::to_owned),
        cookie_token(req.headers()).map(str::to_owned),
        query_token(req.uri()),
    ];
    let [by_header, by_cookie, by_query] = &offered;
    if let Some(token) = state.token.as_deref() {
        let is = |t: &Option<String>| t.as_deref().is_some_and(|t| same(t, token));
        if is(by_header) || is(by_cookie) || is(by_query) {
            let res = next.run(req).await;
            return if is(by_query) && !is(by_cookie) {
                with_cookie(res, token)
            } else {
                res
            };
        }
    }
    let accounts = match account_of(&state, &offered).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    match accounts {
        // The UI's own files hold no library data: they load without a token, so that the
        // app can ask for one.
        Some(None) if !req.uri().path().starts_with("/api") => next.run(req).await,
        Some(None) => deny(
            StatusCode::UNAUTHORIZED,
            ErrorKind::Unauthorized,
            "this server has user accounts: send your token as `Authorization: Bearer <token>` \
             or `?token=<token>` (an admin gives one with `pairlab users add`)"
                .into(),
            &req,
        ),
        Some(Some((user, token))) => {
            let by_query_only = by_query.as_deref() == Some(token.as_str())
                && by_cookie.as_deref() != Some(token.as_str());
            run_as_user(req, next, user, &token, by_query_only).await
        }
        None if state.token.is_some() => deny(
            StatusCode::UNAUTHORIZED,
            ErrorKind::Unauthorized,
            "this server needs its access token: `Authorization: Bearer <token>` or `?token=<token>`"
                .into(),
            &req,
        ),
        None => loopback_only(req, next).await,
    }
}

/// The account the offered tokens name: `None` when the library has no active accounts,
/// `Some(None)` when no offered token is an active user's, else the user and the token.
async fn account_of(
    state: &AppState,
    offered: &[Option<String>; 3],
) -> Result<Option<Option<(User, String)>>, ApiError> {
    // Accounts: whether there are any is read at most once a second (a server without
    // them then costs no database work here); a token is checked against the database on
    // every request, so that revoking it takes effect at once.
    let known = state.accounts.lock().ok().and_then(|c| {
        c.filter(|(at, _)| at.elapsed() < std::time::Duration::from_secs(1))
            .map(|(_, on)| on)
    });
    let dir = state.library.clone();
    let cache = state.accounts.clone();
    let tokens: Vec<String> = offered.iter().flatten().cloned().collect();
    // Known to have no accounts: no blocking thread, no database (the common case).
    let looked_up = if known == Some(false) {
        Ok(Ok(None))
    } else {
        tokio::task::spawn_blocking(move || look_up_account(&dir, known, &cache, &tokens)).await
    };
    match looked_up {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(e)) => Err(ApiError::Core(e)),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Internal,
            format!("worker failed: {e}"),
        )),
    }
}

/// The database side of [`account_of`] (blocking): whether the library has active
/// accounts (`known` when cached, else read and cached), then which offered token is an
/// active user's.
fn look_up_account(
    dir: &std::path::Path,
    known: Option<bool>,
    cache: &std::sync::Mutex<Option<(std::time::Instant, bool)>>,
    tokens: &[String],
) -> pairlab_core::Result<Option<Option<(User, String)>>> {
    let db = dir.join(DB_FILE);
    let mut conn = None;
    let on = match known {
        Some(on) => on,
        None => {
            // No library file yet: no accounts either (the calls create it).
            let on = db.exists() && {
                let c = conn.insert(pairlab_core::store::open(&db)?);
                users::any_active(c)?
            };
            if let Ok(mut cached) = cache.lock() {
                *cached = Some((std::time::Instant::now(), on));
            }
            on
        }
    };
    if !on {
        return Ok(None);
    }
    let conn = match conn {
        Some(c) => c,
        None => pairlab_core::store::open(&db)?,
    };
    for t in tokens {
        if let Some(user) = users::authenticate(&conn, t)? {
            return Ok(Some(Some((user, t.clone()))));
        }
    }
    Ok(Some(None))
}

/// Passes the request on as `user` when the user's role allows the call (else refuses
/// it); sets the cookie when the token came only in the query.
async fn run_as_user(
    mut req: Request,
    next: Next,
    user: User,
    token: &str,
    by_query_only: bool,
) -> Response {
    let path = req.uri().path();
    let route = path
        .strip_prefix("/api")
        .and_then(|p| ROUTES.iter().find(|r| r.matches(req.method().as_str(), p)));
    if let Some(need) = route.and_then(|r| r.role)
        && user.role < need
    {
        let why = format!(
            "user {:?} is {} and `{}` needs {} or above",
            user.name,
            user.role.name(),
            route.map_or("", |r| r.name),
            need.name()
        );
        return deny(StatusCode::FORBIDDEN, ErrorKind::Forbidden, why, &req);
    }
    req.extensions_mut().insert(CurrentUser(user));
    let res = next.run(req).await;
    if by_query_only {
        with_cookie(res, token)
    } else {
        res
    }
}

/// Without accounts or a token: passes on only requests whose `Host` (when sent) is a
/// loopback name.
async fn loopback_only(req: Request, next: Next) -> Response {
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    if host.is_some_and(|h| !loopback_host(h)) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorKind::Forbidden,
            "this server answers only requests addressed to localhost or 127.0.0.1",
        )
        .into_response();
    }
    next.run(req).await
}

/// A random access token (32 hex digits): blake3 over the OS's randomness where it can be
/// read, the time, the process id and std's randomly seeded hasher keys.
pub fn random_token() -> String {
    let mut h = blake3::Hasher::new();
    let mut os = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom")
        && f.read_exact(&mut os).is_ok()
    {
        h.update(&os);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(&now.as_nanos().to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    for _ in 0..4 {
        let k = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        h.update(&k.to_le_bytes());
    }
    h.finalize().to_hex()[..32].to_string()
}

/// Whether an `Origin` header names the same host (and port) the request was sent to.
fn same_origin(origin: &str, host: &str) -> bool {
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/').eq_ignore_ascii_case(host))
}

/// The second middleware: a state-changing request (every POST) from another site is
/// refused. It must carry `Content-Type: application/json` — a page elsewhere can send
/// that only after a CORS preflight, which this server never answers — so that routes
/// without a body (`/api/jobs/{id}/cancel`) are covered as well as those with one; and
/// when the browser says where it comes from (`Sec-Fetch-Site`, `Origin`), that must be
/// this server. Reads (GET) are not affected.
pub async fn refuse_cross_site(req: Request, next: Next) -> Response {
    if req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD {
        return next.run(req).await;
    }
    let headers = req.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let json = header("content-type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    let site_ok = header("sec-fetch-site")
        .is_none_or(|s| s.eq_ignore_ascii_case("same-origin") || s.eq_ignore_ascii_case("none"));
    let origin_ok = match (header("origin"), header("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => same_origin(origin, host),
        (Some(_), None) => false,
    };
    let why = if !json {
        "a state-changing request must send Content-Type: application/json"
    } else if !site_ok || !origin_ok {
        "requests from other sites may not change this library"
    } else {
        return next.run(req).await;
    };
    ApiError::new(StatusCode::FORBIDDEN, ErrorKind::Forbidden, why).into_response()
}

#[cfg(test)]
mod tests {
    use super::loopback_host;

    #[test]
    fn loopback_hosts_and_others() {
        for h in [
            "localhost",
            "localhost:7878",
            "127.0.0.1:7878",
            "127.0.0.1",
            "[::1]:7878",
            "pairlab.localhost",
        ] {
            assert!(loopback_host(h), "{h}");
        }
        for h in [
            "evil.example:7878",
            "example.com",
            "10.0.0.5:7878",
            "[2001:db8::1]:80",
            "localhost.evil.com",
            "127.evil.com",
        ] {
            assert!(!loopback_host(h), "{h}");
        }
    }
}
