//! Helpers for the integration tests: temporary corpora, image writers and running the
//! real `pairlab` binary against a real SQLite library.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// A temporary corpus folder and a temporary library folder.
pub struct Env {
    _tmp: tempfile::TempDir,
    pub corpus: PathBuf,
    pub library: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().expect("tempdir");
        let corpus = tmp.path().join("corpus");
        let library = tmp.path().join("library");
        std::fs::create_dir_all(&corpus).expect("mkdir corpus");
        Env {
            _tmp: tmp,
            corpus,
            library,
        }
    }

    /// A path inside the corpus, with parent folders created.
    pub fn path(&self, rel: &str) -> PathBuf {
        let p = self.corpus.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        p
    }

    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, bytes).expect("write");
        p
    }

    pub fn png(&self, rel: &str, seed: u8) -> PathBuf {
        self.write(rel, png_bytes(32, 24, seed))
    }

    pub fn jpeg(&self, rel: &str, seed: u8) -> PathBuf {
        self.write(rel, jpeg_bytes(40, 30, seed))
    }

    /// Runs `pairlab --library LIB ARGS...`, asserting success; returns stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run pairlab");
        assert!(
            out.status.success(),
            "pairlab {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pairlab"));
        cmd.arg("--library").arg(&self.library).args(args);
        cmd.env_remove("PAIRLAB_LIBRARY");
        cmd
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// `pairlab index CORPUS --json EXTRA...`
    pub fn index(&self, extra: &[&str]) -> Value {
        let corpus = self.corpus.to_string_lossy().into_owned();
        let mut args = vec!["index", corpus.as_str(), "--json"];
        args.extend_from_slice(extra);
        self.json(&args)
    }

    /// `pairlab errors --json` as (path, kind) pairs, sorted.
    pub fn errors(&self) -> Vec<(String, String)> {
        let v = self.json(&["errors", "--json"]);
        let mut rows: Vec<(String, String)> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|e| {
                (
                    e["path"].as_str().expect("path").to_owned(),
                    e["kind"].as_str().expect("kind").to_owned(),
                )
            })
            .collect();
        rows.sort();
        rows
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.library.join("pairlab.db")).expect("open db")
    }

    /// Rows of a one-column-per-field query, as strings.
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        let db = self.db();
        let mut stmt = db.prepare(sql).expect("prepare");
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| {
                    let v: rusqlite::types::Value = r.get(i)?;
                    Ok(match v {
                        rusqlite::types::Value::Null => "NULL".to_owned(),
                        rusqlite::types::Value::Integer(i) => i.to_string(),
                        rusqlite::types::Value::Real(f) => f.to_string(),
                        rusqlite::types::Value::Text(t) => t,
                        rusqlite::types::Value::Blob(_) => "<blob>".to_owned(),
                    })
                })
                .collect()
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
    }
}

/// Asserts the count fields of an index summary.
pub fn assert_counts(v: &Value, expected: &[(&str, u64)]) {
    for (key, want) in expected {
        assert_eq!(v[*key].as_u64(), Some(*want), "{key} in {v}");
    }
}

pub fn gray(w: u32, h: u32, seed: u8) -> image::GrayImage {
    image::GrayImage::from_fn(w, h, |x, y| {
        image::Luma([(x as u8).wrapping_mul(7) ^ (y as u8).wrapping_mul(3) ^ seed])
    })
}

pub fn png_bytes(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    gray(w, h, seed)
        .write_to(&mut buf, image::ImageFormat::Png)
        .expect("encode png");
    buf.into_inner()
}

pub fn jpeg_bytes(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    gray(w, h, seed)
        .write_to(&mut buf, image::ImageFormat::Jpeg)
        .expect("encode jpeg");
    buf.into_inner()
}
