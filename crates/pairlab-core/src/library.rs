//! A Pairlab library: one folder holding `pairlab.db` and its caches.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::store;

/// The database file's name inside a library folder.
pub const DB_FILE: &str = "pairlab.db";
/// The thumbnail cache folder's name inside a library folder.
pub const THUMBS_DIR: &str = "thumbs";

/// An open library.
pub struct Library {
    root: PathBuf,
    conn: Connection,
}

impl Library {
    /// Opens the library in `dir`, creating the folder and database when they do not exist.
    pub fn open(dir: &Path) -> Result<Library> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let thumbs = dir.join(THUMBS_DIR);
        std::fs::create_dir_all(&thumbs).map_err(|e| Error::io(&thumbs, e))?;
        let conn = store::open(&dir.join(DB_FILE))?;
        // The built-in schema is written once (and again only if the shipped one grows).
        let builtin = crate::labels::SchemaDef::chexpert()?;
        let known: i64 = conn.query_row(
            "SELECT COUNT(*) FROM schema_classes c JOIN schemas s ON s.id = c.schema_id
             WHERE s.name = ?1",
            [&builtin.name],
            |r| r.get(0),
        )?;
        let prompts: i64 = conn.query_row(
            "SELECT COUNT(*) FROM schemas WHERE name = ?1 AND prompts IS NOT NULL",
            [&builtin.name],
            |r| r.get(0),
        )?;
        if known < builtin.classes.len() as i64 || prompts == 0 {
            crate::labels::schema::upsert(&conn, &builtin)?;
        }
        // Runs whose training process is gone (killed, crashed) say so.
        crate::runs::liveness::mark_interrupted(&conn, dir)?;
        Ok(Library {
            root: dir.to_owned(),
            conn,
        })
    }

    /// The platform's data folder for Pairlab (e.g. `~/.local/share/pairlab` on Linux).
    pub fn default_dir() -> Result<PathBuf> {
        directories::ProjectDirs::from("org", "pairlab", "pairlab")
            .map(|d| d.data_dir().to_owned())
            .ok_or_else(|| {
                Error::Invalid(
                    "no home folder found; pass --library DIR or set PAIRLAB_LIBRARY".into(),
                )
            })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The thumbnail cache folder.
    pub fn thumbs_dir(&self) -> PathBuf {
        self.root.join(THUMBS_DIR)
    }
}
