//! Parity with Cleanlab 2.9.0 on fixed arrays (tests/reference/make_cleanlab.py): the
//! flags of every filter, multi-class and multi-label, and the self-confidence ranking.

use super::*;
use crate::model_tests::reference;
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("rows")
        .iter()
        .flat_map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("f64"))
        })
        .collect()
}

fn indices(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("indices")
        .iter()
        .map(|x| x.as_u64().expect("index") as usize)
        .collect()
}

fn flagged(mask: &[bool]) -> Vec<usize> {
    (0..mask.len()).filter(|&i| mask[i]).collect()
}

const FILTERS: [&str; 5] = [
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
];

#[test]
fn multi_class_flags_equal_cleanlabs_for_every_filter() {
    let refs = reference("cleanlab.json");
    for case in refs["multi_class"].as_array().expect("cases") {
        let k = case["k"].as_u64().expect("k") as usize;
        let labels = indices(&case["labels"]);
        let probs = floats(&case["probs"]);
        for f in FILTERS {
            let mask = find_label_issues(&labels, &probs, k, Filter::parse(f).expect("filter"));
            assert_eq!(
                flagged(&mask),
                indices(&case["issues"][f]),
                "{} {f}",
                case["name"]
            );
        }
        let mask = find_label_issues(&labels, &probs, k, Filter::PruneByNoiseRate);
        assert_eq!(
            ranked_by_self_confidence(&mask, &labels, &probs, k),
            indices(&case["ranked_self_confidence"]),
            "{}",
            case["name"]
        );
    }
}

#[test]
fn multi_label_flags_equal_cleanlabs_for_every_filter() {
    let refs = reference("cleanlab.json");
    for case in refs["multi_label"].as_array().expect("cases") {
        let k = case["k"].as_u64().expect("k") as usize;
        let probs = floats(&case["probs"]);
        let rows = case["labels"].as_array().expect("labels");
        let mut labels = vec![false; rows.len() * k];
        for (i, r) in rows.iter().enumerate() {
            for c in indices(r) {
                labels[i * k + c] = true;
            }
        }
        for f in FILTERS {
            let mask =
                find_multilabel_issues(&labels, &probs, k, Filter::parse(f).expect("filter"));
            assert_eq!(
                flagged(&mask),
                indices(&case["issues"][f]),
                "{} {f}",
                case["name"]
            );
        }
    }
}

#[test]
fn rounding_keeps_the_total_as_cleanlab_does() {
    assert_eq!(round_preserving_sum(&[0.5, 1.5, 2.5]), vec![0, 2, 2]);
    assert_eq!(
        round_preserving_sum(&[0.4, 0.4, 0.4]).iter().sum::<i64>(),
        1
    );
    assert_eq!(Filter::parse("nope"), None);
}
