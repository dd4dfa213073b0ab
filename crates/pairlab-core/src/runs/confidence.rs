//! A run's confidence in each of its predictions, stored beside the probabilities so the
//! browse grid can order by it.

use rusqlite::{Connection, params};

use crate::embed::from_blob;
use crate::error::Result;

/// The probability of the predicted class (multi-class), or the least certain class's
/// `max(p, 1 - p)` (multi-label).
pub fn confidence(probs: &[f32], multi_class: bool) -> f32 {
    if multi_class {
        probs.iter().copied().fold(0.0, f32::max)
    } else {
        probs.iter().map(|&p| p.max(1.0 - p)).fold(1.0, f32::min)
    }
}

/// Fills in, in one transaction, the confidences of a run's predictions that have none
/// (all of a run stored before confidences were kept).
pub fn fill_missing(conn: &Connection, run: i64) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    fill(&tx, run)?;
    tx.commit()?;
    Ok(())
}

/// Fills in the confidences of a run's predictions that have none (inside the caller's
/// transaction).
pub fn fill(conn: &Connection, run: i64) -> Result<()> {
    let missing: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM run_predictions WHERE run_id = ?1 AND confidence IS NULL)",
        [run],
        |r| r.get(0),
    )?;
    if !missing {
        return Ok(());
    }
    let multi_class: bool = conn.query_row(
        "SELECT s.kind = 'multi-class' FROM runs r JOIN schemas s ON s.id = r.schema_id WHERE r.id = ?1",
        [run],
        |r| r.get(0),
    )?;
    let rows: Vec<(i64, Vec<u8>)> = conn
        .prepare(
            "SELECT pair_id, probs FROM run_predictions WHERE run_id = ?1 AND confidence IS NULL",
        )?
        .query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<std::result::Result<_, _>>()?;
    let mut put = conn
        .prepare("UPDATE run_predictions SET confidence = ?3 WHERE run_id = ?1 AND pair_id = ?2")?;
    for (pair, blob) in rows {
        let c = confidence(&from_blob(&blob), multi_class);
        put.execute(params![run, pair, f64::from(c)])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::confidence;

    #[test]
    fn confidence_is_the_predicted_probability_or_the_least_certain_class() {
        assert_eq!(confidence(&[0.1, 0.7, 0.2], true), 0.7);
        assert_eq!(confidence(&[0.9, 0.4, 0.05], false), 0.6);
        assert_eq!(confidence(&[0.5], false), 0.5);
    }
}
