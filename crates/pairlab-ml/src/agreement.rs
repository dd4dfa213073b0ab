//! Inter-annotator agreement: Cohen's kappa of two annotators (scikit-learn's
//! `cohen_kappa_score`, unweighted) and Fleiss' kappa of several (statsmodels'
//! `fleiss_kappa`, method "fleiss"), checked against both on fixed arrays
//! (tests/reference/make_agreement.py).

/// Cohen's kappa of two annotators' labels of the same items (any category values).
/// None without items, or when the chance agreement is 1 (both gave one category to
/// everything: scikit-learn answers NaN).
pub fn cohen_kappa<T: PartialEq + Copy>(a: &[T], b: &[T]) -> Option<f64> {
    assert_eq!(a.len(), b.len(), "two annotators' labels of the same items");
    let n = a.len();
    if n == 0 {
        return None;
    }
    let mut cats: Vec<T> = Vec::new();
    for &x in a.iter().chain(b) {
        if !cats.contains(&x) {
            cats.push(x);
        }
    }
    let k = cats.len();
    let idx = |x: T| cats.iter().position(|&c| c == x).unwrap_or(0);
    let mut confusion = vec![0.0f64; k * k];
    for (&x, &y) in a.iter().zip(b) {
        confusion[idx(x) * k + idx(y)] += 1.0;
    }
    let rows: Vec<f64> = (0..k)
        .map(|i| (0..k).map(|j| confusion[i * k + j]).sum())
        .collect();
    let cols: Vec<f64> = (0..k)
        .map(|j| (0..k).map(|i| confusion[i * k + j]).sum())
        .collect();
    let total = n as f64;
    // scikit-learn: 1 − Σ w·observed / Σ w·expected, w = 1 off the diagonal.
    let (mut observed, mut expected) = (0.0, 0.0);
    for i in 0..k {
        for j in 0..k {
            if i != j {
                observed += confusion[i * k + j];
                expected += rows[i] * cols[j] / total;
            }
        }
    }
    if expected == 0.0 {
        return None;
    }
    Some(1.0 - observed / expected)
}

/// Fleiss' kappa of items each rated by the same number of annotators: `table[i][c]` is how
/// many annotators put item i in category c. None without items, with fewer than two
/// ratings per item, with unequal numbers of ratings, or when the chance agreement is 1.
pub fn fleiss_kappa(table: &[Vec<usize>]) -> Option<f64> {
    let first = table.first()?;
    let raters: usize = first.iter().sum();
    if raters < 2 || table.iter().any(|r| r.iter().sum::<usize>() != raters) {
        return None;
    }
    let cats = first.len();
    let items = table.len() as f64;
    let total = items * raters as f64;
    let p_cat: Vec<f64> = (0..cats)
        .map(|c| table.iter().map(|r| r[c] as f64).sum::<f64>() / total)
        .collect();
    let m = raters as f64;
    let p_mean = table
        .iter()
        .map(|r| (r.iter().map(|&x| (x * x) as f64).sum::<f64>() - m) / (m * (m - 1.0)))
        .sum::<f64>()
        / items;
    let p_exp: f64 = p_cat.iter().map(|p| p * p).sum();
    if (1.0 - p_exp).abs() < f64::EPSILON {
        return None;
    }
    Some((p_mean - p_exp) / (1.0 - p_exp))
}

#[cfg(test)]
mod tests;
