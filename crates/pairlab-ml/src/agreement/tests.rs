//! Agreement against scikit-learn's `cohen_kappa_score` and statsmodels' `fleiss_kappa`
//! (tests/reference/make_agreement.py).

use super::*;
use crate::model_tests::reference;
use serde_json::Value;

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_i64().expect("int"))
        .collect()
}

#[test]
fn cohen_and_fleiss_equal_scikit_learn_and_statsmodels() {
    let refs = reference("agreement.json");
    for case in refs["cohen"].as_array().expect("cases") {
        let (a, b) = (ints(&case["a"]), ints(&case["b"]));
        let want = case["kappa"].as_f64().expect("kappa");
        let got = cohen_kappa(&a, &b).expect("kappa");
        assert!(
            (got - want).abs() < 1e-12,
            "{}: {got} vs {want}",
            case["name"]
        );
        // Symmetric.
        assert!((cohen_kappa(&b, &a).expect("kappa") - got).abs() < 1e-12);
    }
    for case in refs["fleiss"].as_array().expect("cases") {
        let table: Vec<Vec<usize>> = case["table"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| ints(r).into_iter().map(|x| x as usize).collect())
            .collect();
        let want = case["kappa"].as_f64().expect("kappa");
        let got = fleiss_kappa(&table).expect("kappa");
        assert!(
            (got - want).abs() < 1e-12,
            "{}: {got} vs {want}",
            case["name"]
        );
    }
}

#[test]
fn undefined_agreement_is_none() {
    assert_eq!(cohen_kappa::<i8>(&[], &[]), None);
    assert_eq!(
        cohen_kappa(&[1, 1, 1], &[1, 1, 1]),
        None,
        "one category only"
    );
    assert_eq!(cohen_kappa(&[1, 0, 1, 0], &[1, 0, 1, 0]), Some(1.0));
    assert_eq!(
        fleiss_kappa(&[vec![2, 0], vec![1, 2]]),
        None,
        "unequal ratings"
    );
    assert_eq!(fleiss_kappa(&[vec![1, 0]]), None, "one rating");
}
