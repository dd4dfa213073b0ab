//! The API's surface as data: one row per call, with the HTTP method and path that
//! `pairlab serve` routes and the name that the Tauri command (and the UI's transport)
//! uses. The server builds its router from this table, the Tauri shell's test checks its
//! commands against it and the UI's `routes.ts` is generated from it.

use crate::users::Role;

/// How a call answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A JSON value (a Tauri command).
    Json,
    /// A file's bytes (an image; the Tauri shell serves it on its `pairlab:` protocol).
    File,
    /// A stream of JSON values (server-sent events; a Tauri command with a channel).
    Stream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub name: &'static str,
    pub method: &'static str,
    /// The path under `/api` (e.g. `/pairs/{id}`).
    pub path: &'static str,
    pub kind: Kind,
    /// Who may call it on a server with user accounts: the least role, or `None` for any
    /// user (reads).
    pub role: Option<Role>,
}

impl Route {
    /// The same route, callable only by `role` and the roles above it.
    const fn needs(self, role: Role) -> Route {
        Route {
            role: Some(role),
            ..self
        }
    }

    /// Whether `path` (under `/api`, without a query) is this route's, `{x}` standing for
    /// any one segment.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let mut want = self.path.split('/');
        let mut got = path.split('/');
        self.method == method
            && loop {
                match (want.next(), got.next()) {
                    (None, None) => break true,
                    (Some(w), Some(g)) if w.starts_with('{') || w == g => {}
                    _ => break false,
                }
            }
    }
}

const fn json(name: &'static str, method: &'static str, path: &'static str) -> Route {
    Route {
        name,
        method,
        path,
        kind: Kind::Json,
        role: None,
    }
}

/// Every call of the API.
pub const ROUTES: &[Route] = &[
    json("health", "GET", "/health"),
    json("stats", "GET", "/stats"),
    json("search", "GET", "/search"),
    json("errors", "GET", "/errors"),
    json("pairs", "GET", "/pairs"),
    json("browse", "POST", "/browse"),
    json("browse_count", "POST", "/browse/count"),
    json("pair", "GET", "/pairs/{id}"),
    json("history", "GET", "/pairs/{id}/history"),
    json("labels", "GET", "/pairs/{id}/labels"),
    json("evidence", "GET", "/pairs/{id}/evidence"),
    json("review_status", "GET", "/pairs/{id}/review"),
    Route {
        name: "image",
        method: "GET",
        path: "/pairs/{id}/image",
        kind: Kind::File,
        role: None,
    },
    Route {
        name: "thumb",
        method: "GET",
        path: "/pairs/{id}/thumb",
        kind: Kind::File,
        role: None,
    },
    json("schemas", "GET", "/schemas"),
    json("splits", "GET", "/splits"),
    json("leakage", "GET", "/leakage"),
    json("runs", "GET", "/runs"),
    json("start_train", "POST", "/runs").needs(Role::Admin),
    json("run", "GET", "/runs/{id}"),
    json("run_epochs", "GET", "/runs/{id}/epochs"),
    json("evaluate", "GET", "/runs/{id}/eval"),
    json("misclassified", "GET", "/runs/{id}/misclassified"),
    json("models", "GET", "/models"),
    json("set_label", "POST", "/labels").needs(Role::Annotator),
    json("undo", "POST", "/undo").needs(Role::Annotator),
    json("redo", "POST", "/redo").needs(Role::Annotator),
    json("set_review", "POST", "/review").needs(Role::Annotator),
    json("start_index", "POST", "/corpora").needs(Role::Admin),
    json("jobs", "GET", "/jobs"),
    json("job", "GET", "/jobs/{id}"),
    Route {
        name: "job_events",
        method: "GET",
        path: "/jobs/{id}/events",
        kind: Kind::Stream,
        role: None,
    },
    json("cancel_job", "POST", "/jobs/{id}/cancel").needs(Role::Admin),
];

/// The UI's `routes.ts`: the table as a TypeScript constant.
pub fn typescript() -> String {
    let mut out = String::from(
        "// Generated from pairlab-core's api::routes::ROUTES by `cargo test` (bindings test);\n\
         // do not edit. Regenerate: PAIRLAB_UPDATE_BINDINGS=1 cargo test --workspace bindings\n\n\
         export const ROUTES = {\n",
    );
    for r in ROUTES {
        let kind = match r.kind {
            Kind::Json => "json",
            Kind::File => "file",
            Kind::Stream => "stream",
        };
        out.push_str(&format!(
            "  {}: {{ method: \"{}\", path: \"/api{}\", kind: \"{}\" }},\n",
            r.name, r.method, r.path, kind
        ));
    }
    out.push_str("} as const;\n\nexport type RouteName = keyof typeof ROUTES;\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_method_paths_are_unique() {
        let mut names: Vec<_> = ROUTES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ROUTES.len());
        let mut keys: Vec<_> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), ROUTES.len());
    }

    /// Every POST that changes the library names who may call it; only the browse grid's
    /// two queries, which read, are POSTs open to any user.
    #[test]
    fn state_changing_routes_name_a_role() {
        for r in ROUTES.iter().filter(|r| r.method == "POST") {
            let reads = ["browse", "browse_count"].contains(&r.name);
            assert_eq!(r.role.is_none(), reads, "{}", r.name);
        }
        assert!(
            ROUTES
                .iter()
                .filter(|r| r.method == "GET")
                .all(|r| r.role.is_none())
        );
    }

    #[test]
    fn paths_match_their_parameters() {
        let find = |m: &str, p: &str| ROUTES.iter().find(|r| r.matches(m, p)).map(|r| r.name);
        assert_eq!(find("POST", "/jobs/12/cancel"), Some("cancel_job"));
        assert_eq!(find("GET", "/jobs/12"), Some("job"));
        assert_eq!(find("GET", "/pairs/3/image"), Some("image"));
        assert_eq!(find("POST", "/runs"), Some("start_train"));
        assert_eq!(find("GET", "/runs"), Some("runs"));
        assert_eq!(find("GET", "/jobs/12/cancel"), None);
        assert_eq!(find("POST", "/jobs/12/cancel/x"), None);
    }

    #[test]
    fn typescript_lists_every_route() {
        let ts = typescript();
        for r in ROUTES {
            assert!(ts.contains(&format!("  {}: {{ method: \"{}\"", r.name, r.method)));
        }
    }
}
