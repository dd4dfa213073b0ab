//! Full-text search over reports, bounded: the text's length and words are capped and a
//! statement that runs past its time budget is stopped.

use rusqlite::{Connection, params};

use super::read::SearchHit;
use crate::error::{Error, Result};

/// Longest search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 1_000;
/// Most words a search may have (each one more term for every candidate report).
pub const MAX_SEARCH_WORDS: usize = 32;
/// Longest a search may run before it is stopped.
pub const SEARCH_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// Turns free text into an FTS5 query that matches all its words (no query syntax
/// needed). Refuses text without words, longer than [`MAX_SEARCH_CHARS`] or with more than
/// [`MAX_SEARCH_WORDS`] words.
pub(crate) fn fts_query(text: &str) -> Result<String> {
    let chars = text.chars().count();
    if chars > MAX_SEARCH_CHARS {
        return Err(Error::Invalid(format!(
            "search text: {chars} characters; use at most {MAX_SEARCH_CHARS}"
        )));
    }
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect();
    if words.is_empty() {
        return Err(Error::Invalid("search text has no words".into()));
    }
    if words.len() > MAX_SEARCH_WORDS {
        return Err(Error::Invalid(format!(
            "search text: {} words; use at most {MAX_SEARCH_WORDS}",
            words.len()
        )));
    }
    Ok(words.join(" "))
}

/// Runs `f` on `conn`, stopping its statement when it runs longer than [`SEARCH_BUDGET`]
/// (SQLite's interrupt, from a timer thread); a stopped search is a clear error.
pub(crate) fn within_budget<T>(
    conn: &Connection,
    f: impl FnOnce() -> rusqlite::Result<T>,
) -> Result<T> {
    within(conn, SEARCH_BUDGET, f)
}

fn within<T>(
    conn: &Connection,
    budget: std::time::Duration,
    f: impl FnOnce() -> rusqlite::Result<T>,
) -> Result<T> {
    let handle = conn.get_interrupt_handle();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let timer = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(budget) {
            handle.interrupt();
        }
    });
    let out = f();
    let _ = done.send(());
    let _ = timer.join();
    match out {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            Err(Error::Invalid(format!(
                "the search ran longer than {:.1} s and was stopped; use fewer or rarer words",
                budget.as_secs_f64()
            )))
        }
        other => Ok(other?),
    }
}

pub fn search(conn: &Connection, text: &str, limit: u32) -> Result<Vec<SearchHit>> {
    let q = fts_query(text)?;
    let mut stmt = conn.prepare(
        "SELECT r.id, r.source, snippet(reports_fts, 0, '[', ']', '…', 12)
         FROM reports_fts JOIN reports r ON r.id = reports_fts.rowid
         WHERE reports_fts MATCH ?1 AND r.missing = 0
         ORDER BY rank LIMIT ?2",
    )?;
    let hits = within_budget(conn, || {
        stmt.query_map(params![q, limit], |r| {
            Ok(SearchHit {
                report_id: r.get(0)?,
                source: r.get(1)?,
                pairs: Vec::new(),
                snippet: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()
    })?;
    let mut pstmt = conn.prepare_cached(
        "SELECT p.id FROM pairs p JOIN images i ON i.id = p.image_id
         WHERE p.report_id = ?1 AND i.missing = 0 ORDER BY p.id",
    )?;
    hits.into_iter()
        .map(|mut h| {
            h.pairs = pstmt
                .query_map([h.report_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(h)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_over_its_budget_is_stopped_and_the_connection_stays_usable() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        let slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)
                    SELECT COUNT(*) FROM n";
        let started = std::time::Instant::now();
        let err = within(&conn, std::time::Duration::from_millis(200), || {
            conn.query_row(slow, [], |r| r.get::<_, i64>(0))
        })
        .expect_err("stopped")
        .to_string();
        assert!(err.contains("was stopped"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
        // A quick statement afterwards is not interrupted.
        let one = within(&conn, std::time::Duration::from_millis(200), || {
            conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
        })?;
        assert_eq!(one, 1);
        Ok(())
    }

    #[test]
    fn fts_query_quotes_words() {
        let q = |t: &str| fts_query(t).map_err(|e| e.to_string());
        assert_eq!(q("pleural effusion"), Ok("\"pleural\" \"effusion\"".into()));
        assert_eq!(q("no \"OR\" -x*"), Ok("\"no\" \"OR\" \"x\"".into()));
        assert!(q("  ").is_err_and(|e| e.contains("no words")));
        let many = vec!["word"; MAX_SEARCH_WORDS + 1].join(" ");
        assert!(q(&many).is_err_and(|e| e.contains("33 words")));
        assert!(q(&vec!["word"; MAX_SEARCH_WORDS].join(" ")).is_ok());
        assert!(q(&"x".repeat(MAX_SEARCH_CHARS + 1)).is_err_and(|e| e.contains("characters")));
    }
}
