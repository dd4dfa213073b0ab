//! The API's surface as data: one row per call, with the HTTP method and path that
//! `pairlab serve` routes and the name that the Tauri command (and the UI's transport)
//! uses. The rows come from the declarations in `endpoints.rs`; the server builds its
//! router from them and the UI's `routes.ts` (with each call's argument and answer types)
//! is generated here.

use super::endpoint::{Endpoint, Visit};
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

pub use super::endpoints::ROUTES;

/// The UI's `routes.ts`: the table as a TypeScript constant, and `Calls`, each JSON
/// call's argument and answer types (so that the UI's `call` is typed end to end).
pub fn typescript() -> String {
    let mut calls = TsCalls::default();
    super::endpoints::visit(&mut calls);
    let mut out = String::from(
        "// Generated from pairlab-core's api::endpoints by `cargo test` (bindings test);\n\
         // do not edit. Regenerate: PAIRLAB_UPDATE_BINDINGS=1 cargo test --workspace bindings\n\n",
    );
    for name in &calls.imports {
        out.push_str(&format!("import type {{ {name} }} from \"./{name}\";\n"));
    }
    out.push_str("\nexport const ROUTES = {\n");
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
    out.push_str("} as const;\n\nexport type RouteName = keyof typeof ROUTES;\n\n");
    out.push_str("/** Each JSON call's arguments (the path's `id` among them) and answer. */\n");
    out.push_str("export interface Calls {\n");
    for line in &calls.lines {
        out.push_str(line);
    }
    out.push_str("}\n\nexport type CallName = keyof Calls;\n");
    // i64 and u64 travel as JSON numbers (ids and counts stay below 2^53).
    out.replace("bigint", "number")
}

/// Collects `Calls`' lines and the bindings they import.
#[derive(Default)]
struct TsCalls {
    lines: Vec<String>,
    imports: std::collections::BTreeSet<String>,
}

/// The exported (named) types a type refers to at its top: itself, or the items of an
/// array or option.
struct Imports<'a>(&'a mut std::collections::BTreeSet<String>);

impl ts_rs::TypeVisitor for Imports<'_> {
    fn visit<T: ts_rs::TS + 'static + ?Sized>(&mut self) {
        if T::output_path().is_some() {
            self.0.insert(T::ident());
        } else {
            T::visit_generics(self);
        }
    }
}

impl Visit for TsCalls {
    fn endpoint<E: Endpoint>(&mut self) {
        use ts_rs::{TS, TypeVisitor};
        let no_args = <E::Args as TS>::ident() == "NoArgs";
        let args = match (no_args, E::TAKES_ID) {
            (true, true) => "{ id: number }".to_owned(),
            (true, false) => "Record<string, never>".to_owned(),
            (false, true) => format!("{} & {{ id: number }}", <E::Args as TS>::name()),
            (false, false) => <E::Args as TS>::name(),
        };
        if !no_args {
            Imports(&mut self.imports).visit::<E::Args>();
        }
        Imports(&mut self.imports).visit::<E::Answer>();
        self.lines.push(format!(
            "  {}: {{ args: {args}; answer: {} }};\n",
            E::ROUTE.name,
            <E::Answer as TS>::name()
        ));
    }
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
