//! What an endpoint is, independent of any transport: a row of the route table, the type
//! of its arguments, the type of its answer and one call into core. The endpoints are
//! declared once, in `endpoints.rs`; the server, the Tauri shell, the contract suite and the
//! UI's TypeScript route map are built from those declarations (see ARCHITECTURE.md,
//! "Adding an endpoint").

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use ts_rs::TS;

use super::routes::Route;
use crate::error::{Error, Result};
use crate::jobs::Jobs;
use crate::library::Library;
use crate::users::{Role, User};

/// Who calls and on what: the library (through its jobs, which know its folder) and, on a
/// server with user accounts, the signed-in user.
pub struct Call<'a> {
    jobs: &'a Jobs,
    user: Option<&'a User>,
}

impl<'a> Call<'a> {
    pub fn new(jobs: &'a Jobs, user: Option<&'a User>) -> Call<'a> {
        Call { jobs, user }
    }

    /// The library, opened for this call (each call has its own connection).
    pub fn library(&self) -> Result<Library> {
        Library::open(self.jobs.library())
    }

    /// The signed-in user, on a server with user accounts.
    pub fn user(&self) -> Option<&User> {
        self.user
    }

    /// The library's running jobs.
    pub fn jobs(&self) -> &Jobs {
        self.jobs
    }

    /// The annotator a change is recorded under: the signed-in user, never what the
    /// request says, on a server with accounts; else the name the request gives.
    pub fn annotator(&self, given: String) -> String {
        self.user.map_or(given, |u| u.name.clone())
    }

    /// Refuses the call unless the signed-in user (if any) has at least `role`; `doing`
    /// says what for.
    pub fn require(&self, role: Role, doing: &str) -> Result<()> {
        match self.user {
            Some(u) if u.role < role => Err(Error::Forbidden(format!(
                "user {:?} is {} and {doing} needs {} or above",
                u.name,
                u.role.name(),
                role.name()
            ))),
            _ => Ok(()),
        }
    }
}

/// One endpoint: generated for every declaration in `endpoints.rs`.
pub trait Endpoint: 'static {
    /// Its row of the route table.
    const ROUTE: Route;
    /// Whether its call takes the path's `{id}` (checked against the path by a test).
    const TAKES_ID: bool;
    /// Its arguments: the HTTP query (GET) or body (POST), Tauri's `args` less the `id`.
    type Args: DeserializeOwned + TS + Send + 'static;
    /// What it answers.
    type Answer: Serialize + TS + Send + 'static;

    /// The call into core; `id` is the path's `{id}` for routes that have one.
    fn call(cx: &Call<'_>, id: Option<i64>, args: Self::Args) -> Result<Self::Answer>;
}

/// Something done once per endpoint (building a router, exporting types, listing names).
pub trait Visit {
    fn endpoint<E: Endpoint>(&mut self);
}

/// A path id: decimal digits, greater than zero.
pub fn parse_id(raw: &str) -> Result<i64> {
    let digits = !raw.is_empty() && raw.len() <= 18 && raw.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<i64>() {
        Ok(id) if digits && id > 0 => Ok(id),
        _ => Err(Error::Invalid(format!(
            "not an id: {:?} (expected a positive integer)",
            raw.chars().take(64).collect::<String>()
        ))),
    }
}

/// Calls `E` with JSON arguments (the path's `id` inside them, as the Tauri shell and the
/// contract suite pass it) and answers the JSON text the server would send (serialised
/// once; an f32 keeps its shortest form).
pub fn call_json<E: Endpoint>(cx: &Call<'_>, args: Value) -> Result<Box<RawValue>> {
    let name = E::ROUTE.name;
    let mut args = match args {
        Value::Null => serde_json::Map::new(),
        Value::Object(m) => m,
        other => {
            return Err(Error::Invalid(format!(
                "{name}: arguments must be an object, not {other}"
            )));
        }
    };
    let id = match (E::TAKES_ID, args.remove("id")) {
        (false, _) => None,
        (true, Some(Value::Number(n))) => Some(
            n.as_i64()
                .filter(|&id| id > 0)
                .ok_or_else(|| Error::Invalid(format!("{name}: not an id: {n}")))?,
        ),
        (true, Some(Value::String(s))) => Some(parse_id(&s)?),
        (true, _) => return Err(Error::Invalid(format!("{name}: missing id"))),
    };
    let args: E::Args = serde_json::from_value(Value::Object(args))
        .map_err(|e| Error::Invalid(format!("{name}: {e}")))?;
    let answer = E::call(cx, id, args)?;
    serde_json::value::to_raw_value(&answer).map_err(|e| Error::Invalid(format!("{name}: {e}")))
}

/// The `{id}` of a call whose route has one (the transports always pass it).
pub(crate) fn required_id(name: &str, id: Option<i64>) -> Result<i64> {
    id.ok_or_else(|| Error::Invalid(format!("{name}: missing id")))
}
