//! User accounts for a shared `pairlab serve`: a name, a role and a secret token (shown
//! once when the user is added; only its blake3 hash is stored). While any account is
//! active, the server answers only requests carrying an active user's token, checks each
//! call against the user's role, and takes the annotator of every label from the token.

use std::io::Read;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Error, Result};

/// What a user may do; each role may do everything the ones before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read, label (set, undo, redo) and flag pairs for review.
    Annotator,
    /// Also accept or reject pairs in review.
    Reviewer,
    /// Also index, train, cancel jobs and manage users.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Annotator => "annotator",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "annotator" => Ok(Role::Annotator),
            "reviewer" => Ok(Role::Reviewer),
            "admin" => Ok(Role::Admin),
            other => Err(Error::Invalid(format!(
                "role {other:?}: use annotator, reviewer or admin"
            ))),
        }
    }
}

/// A user as listed (never with a token).
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub created_at: String,
    /// When the user's token was revoked; `None` while it is active.
    pub revoked_at: Option<String>,
}

fn hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// 32 random bytes from the operating system, as 64 hex digits.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("/dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<User> {
    let role: String = r.get(1)?;
    Ok(User {
        name: r.get(0)?,
        role: Role::parse(&role).unwrap_or(Role::Annotator),
        created_at: r.get(2)?,
        revoked_at: r.get(3)?,
    })
}

/// Adds a user and returns their token (the only time it is shown). The name is what
/// their labels are recorded under, so it follows the annotator rules.
pub fn add(conn: &Connection, name: &str, role: Role) -> Result<String> {
    crate::labels::check_annotator(name)?;
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )?;
    if exists {
        return Err(Error::Invalid(format!(
            "a user named {name:?} exists already (pairlab users list)"
        )));
    }
    let token = new_token()?;
    conn.execute(
        "INSERT INTO users (name, role, token_hash) VALUES (?1, ?2, ?3)",
        params![name, role.name(), hash(&token)],
    )?;
    Ok(token)
}

pub fn list(conn: &Connection) -> Result<Vec<User>> {
    let users = conn
        .prepare("SELECT name, role, created_at, revoked_at FROM users ORDER BY name")?
        .query_map([], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(users)
}

/// Revokes a user's token: it is refused from then on; their labels stay theirs.
pub fn revoke(conn: &Connection, name: &str) -> Result<()> {
    let changed = conn.execute(
        "UPDATE users SET revoked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE name = ?1 AND revoked_at IS NULL",
        [name],
    )?;
    if changed == 0 {
        return Err(Error::NotFound(format!("active user {name:?}")));
    }
    Ok(())
}

/// Whether any user is active (then a server requires their tokens).
pub fn any_active(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE revoked_at IS NULL)",
        [],
        |r| r.get(0),
    )?)
}

/// The active user whose token this is.
pub fn authenticate(conn: &Connection, token: &str) -> Result<Option<User>> {
    Ok(conn
        .query_row(
            "SELECT name, role, created_at, revoked_at FROM users
             WHERE token_hash = ?1 AND revoked_at IS NULL",
            [hash(token)],
            row,
        )
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_until_revoked_and_names_are_unique() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let conn = crate::store::open(&dir.path().join("t.db"))?;
        assert!(!any_active(&conn)?);
        let ann = add(&conn, "ann", Role::Annotator)?;
        let boss = add(&conn, "boss", Role::Admin)?;
        assert_eq!(ann.len(), 64);
        assert_ne!(ann, boss);
        assert!(any_active(&conn)?);
        assert_eq!(
            authenticate(&conn, &ann)?.map(|u| u.role),
            Some(Role::Annotator)
        );
        assert_eq!(authenticate(&conn, "not a token")?, None);
        assert!(
            add(&conn, "ann", Role::Reviewer).is_err(),
            "names are unique"
        );
        assert!(
            add(&conn, "", Role::Reviewer).is_err(),
            "names follow the annotator rules"
        );
        let stored: String =
            conn.query_row("SELECT token_hash FROM users WHERE name = 'ann'", [], |r| {
                r.get(0)
            })?;
        assert_ne!(stored, ann, "only the hash is stored");
        revoke(&conn, "ann")?;
        assert_eq!(authenticate(&conn, &ann)?, None);
        assert!(revoke(&conn, "ann").is_err(), "already revoked");
        let users = list(&conn)?;
        assert_eq!(users.len(), 2);
        assert!(users[0].revoked_at.is_some());
        assert!(Role::Admin > Role::Reviewer && Role::Reviewer > Role::Annotator);
        Ok(())
    }
}
