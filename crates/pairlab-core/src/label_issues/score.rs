//! From given labels and out-of-fold probabilities to flagged (pair, class) rows, ranked,
//! and a quality score per pair: confident learning from `pairlab_ml::label_issues`.

use pairlab_ml::label_issues::{Filter, find_label_issues};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};

/// What orders the issues (and scores the pairs): lowest first is likeliest wrong.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// The predicted probability of the given label (Cleanlab's default).
    #[default]
    SelfConfidence,
    /// (p(given) − the largest other probability + 1) / 2; for a multi-label class (two
    /// outcomes) it equals the self-confidence.
    NormalizedMargin,
}

impl RankBy {
    pub fn name(self) -> &'static str {
        match self {
            RankBy::SelfConfidence => "self_confidence",
            RankBy::NormalizedMargin => "normalized_margin",
        }
    }
}

impl std::str::FromStr for RankBy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "self_confidence" => Ok(RankBy::SelfConfidence),
            "normalized_margin" => Ok(RankBy::NormalizedMargin),
            _ => Err(Error::field(
                "rank_by",
                format!("--rank-by {s:?}: use self_confidence or normalized_margin"),
            )),
        }
    }
}

/// Parses a Cleanlab filter name.
pub fn parse_filter(s: &str) -> Result<Filter> {
    Filter::parse(s).ok_or_else(|| {
        Error::field(
            "filter",
            format!(
                "--filter {s:?}: use prune_by_noise_rate (the default), prune_by_class, both, \
                 confident_learning or predicted_neq_given"
            ),
        )
    })
}

/// Cleanlab's name of a filter.
pub fn filter_name(f: Filter) -> &'static str {
    match f {
        Filter::PruneByNoiseRate => "prune_by_noise_rate",
        Filter::PruneByClass => "prune_by_class",
        Filter::Both => "both",
        Filter::ConfidentLearning => "confident_learning",
        Filter::PredictedNeqGiven => "predicted_neq_given",
    }
}

/// One examined pair: its counted labels per class (1, 0 or None; uncertain ones already
/// turned by the policy) and its out-of-fold probabilities.
pub struct Examined {
    pub pair: i64,
    pub run: i64,
    pub given: Vec<Option<i8>>,
    pub probs: Vec<f32>,
}

/// A flagged (pair, class) before ranking.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    pub pair: i64,
    pub run: i64,
    /// The class index: the class whose label looks wrong (multi-class: the given class).
    pub class: usize,
    pub given: i8,
    pub suggested: i8,
    /// Multi-class: the class the model prefers.
    pub suggested_class: Option<usize>,
    pub score: f64,
}

/// What the search found: the flags in rank order, and per examined pair its score (the
/// lowest over its classes) and whether any class is flagged.
pub struct Found {
    pub flags: Vec<Flag>,
    pub pairs: Vec<(i64, f64, bool)>,
}

fn argmax_except(p: &[f64], skip: usize) -> usize {
    (0..p.len())
        .filter(|&j| j != skip)
        .fold(None, |b: Option<usize>, j| match b {
            Some(b) if p[b] >= p[j] => Some(b),
            _ => Some(j),
        })
        .unwrap_or(0)
}

/// Multi-class: each pair's given class is its class labelled 1 (pairs without one are
/// not examined); probabilities are normalised to sum to 1.
fn multi_class(ex: &[Examined], k: usize, filter: Filter, rank_by: RankBy) -> Found {
    let rows: Vec<(&Examined, usize)> = ex
        .iter()
        .filter_map(|e| e.given.iter().position(|v| *v == Some(1)).map(|c| (e, c)))
        .collect();
    let labels: Vec<usize> = rows.iter().map(|r| r.1).collect();
    let mut probs = Vec::with_capacity(rows.len() * k);
    for (e, _) in &rows {
        let sum: f64 = e.probs.iter().map(|&p| f64::from(p)).sum();
        let sum = if sum > 0.0 { sum } else { 1.0 };
        probs.extend(e.probs.iter().map(|&p| f64::from(p) / sum));
    }
    let mask = find_label_issues(&labels, &probs, k, filter);
    let mut found = Found {
        flags: Vec::new(),
        pairs: Vec::with_capacity(rows.len()),
    };
    for (i, (e, c)) in rows.iter().enumerate() {
        let p = &probs[i * k..(i + 1) * k];
        let other = argmax_except(p, *c);
        let score = match rank_by {
            RankBy::SelfConfidence => p[*c],
            RankBy::NormalizedMargin => (p[*c] - p[other] + 1.0) / 2.0,
        };
        found.pairs.push((e.pair, score, mask[i]));
        if mask[i] {
            found.flags.push(Flag {
                pair: e.pair,
                run: e.run,
                class: *c,
                given: 1,
                suggested: 0,
                suggested_class: Some(other),
                score,
            });
        }
    }
    found
}

/// Multi-label: each class on its own over the pairs labelled 0 or 1 for it.
fn multi_label(ex: &[Examined], k: usize, filter: Filter) -> Found {
    let mut pair_score: Vec<Option<f64>> = vec![None; ex.len()];
    let mut pair_flag = vec![false; ex.len()];
    let mut flags = Vec::new();
    for c in 0..k {
        let idx: Vec<usize> = (0..ex.len())
            .filter(|&i| matches!(ex[i].given[c], Some(0 | 1)))
            .collect();
        if idx.is_empty() {
            continue;
        }
        let labels: Vec<usize> = idx
            .iter()
            .map(|&i| usize::from(ex[i].given[c] == Some(1)))
            .collect();
        let probs: Vec<f64> = idx
            .iter()
            .flat_map(|&i| {
                let p = f64::from(ex[i].probs[c]).clamp(0.0, 1.0);
                [1.0 - p, p]
            })
            .collect();
        let mask = find_label_issues(&labels, &probs, 2, filter);
        for (j, &i) in idx.iter().enumerate() {
            let score = probs[j * 2 + labels[j]];
            pair_score[i] = Some(pair_score[i].map_or(score, |s| s.min(score)));
            if mask[j] {
                pair_flag[i] = true;
                let given = i8::from(labels[j] == 1);
                flags.push(Flag {
                    pair: ex[i].pair,
                    run: ex[i].run,
                    class: c,
                    given,
                    suggested: 1 - given,
                    suggested_class: None,
                    score,
                });
            }
        }
    }
    let pairs = (0..ex.len())
        .filter_map(|i| pair_score[i].map(|s| (ex[i].pair, s, pair_flag[i])))
        .collect();
    Found { flags, pairs }
}

/// Flags and scores; the flags ranked lowest score first (ties by pair, then class).
pub fn find(ex: &[Examined], k: usize, multi: bool, filter: Filter, rank_by: RankBy) -> Found {
    let mut found = if multi {
        multi_class(ex, k, filter, rank_by)
    } else {
        multi_label(ex, k, filter)
    };
    found.flags.sort_by(|a, b| {
        a.score
            .total_cmp(&b.score)
            .then(a.pair.cmp(&b.pair))
            .then(a.class.cmp(&b.class))
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(pair: i64, given: &[Option<i8>], probs: &[f32]) -> Examined {
        Examined {
            pair,
            run: 1,
            given: given.to_vec(),
            probs: probs.to_vec(),
        }
    }

    #[test]
    fn a_confidently_other_class_is_flagged_with_its_suggestion() {
        let mut all = Vec::new();
        for i in 0..30 {
            // Class 0 given, the model agrees …
            all.push(ex(i, &[Some(1), Some(0), Some(0)], &[0.8, 0.1, 0.1]));
            all.push(ex(100 + i, &[Some(0), Some(1), Some(0)], &[0.1, 0.8, 0.1]));
            all.push(ex(200 + i, &[Some(0), Some(0), Some(1)], &[0.1, 0.1, 0.8]));
        }
        // … except for two pairs given 0 that look like 2, one more surely than the other.
        all.push(ex(7, &[Some(1), Some(0), Some(0)], &[0.1, 0.05, 0.85]));
        all.push(ex(8, &[Some(1), Some(0), Some(0)], &[0.05, 0.05, 0.9]));
        let f = find(
            &all,
            3,
            true,
            Filter::PruneByNoiseRate,
            RankBy::SelfConfidence,
        );
        let flagged: Vec<(i64, usize, Option<usize>)> = f
            .flags
            .iter()
            .map(|x| (x.pair, x.class, x.suggested_class))
            .collect();
        assert_eq!(flagged, vec![(8, 0, Some(2)), (7, 0, Some(2))]);
        assert!((f.flags[0].score - 0.05).abs() < 1e-6);
        let m = find(
            &all,
            3,
            true,
            Filter::PruneByNoiseRate,
            RankBy::NormalizedMargin,
        );
        assert!((m.flags[0].score - (0.05 - 0.9 + 1.0) / 2.0).abs() < 1e-6);
        assert_eq!(f.pairs.len(), 92);
        assert_eq!(f.pairs.iter().filter(|p| p.2).count(), 2);
    }

    #[test]
    fn multi_label_classes_are_searched_alone_and_blanks_skipped() {
        let mut all = Vec::new();
        for i in 0..40 {
            let pos = i % 2 == 0;
            let p = if pos { 0.9 } else { 0.1 };
            all.push(ex(i, &[Some(i8::from(pos)), None], &[p, 0.5]));
        }
        // Given 0 for class 0 but surely positive; blank in class 1 is never flagged.
        all.push(ex(99, &[Some(0), None], &[0.97, 0.99]));
        let f = find(&all, 2, false, Filter::Both, RankBy::SelfConfidence);
        assert_eq!(f.flags.len(), 1);
        let x = &f.flags[0];
        assert_eq!((x.pair, x.class, x.given, x.suggested), (99, 0, 0, 1));
        assert!((x.score - 0.03).abs() < 1e-6);
        assert_eq!(f.pairs.len(), 41);
    }
}
