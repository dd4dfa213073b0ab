//! Patient-grouped folds: every patient's pairs fall in one fold, so no fold is predicted
//! by a model that trained on the same patient. Pairs without a patient are groups of one.

use std::collections::BTreeMap;

/// The fold (`0..k`) of each item, given the items' patient keys (None: no patient).
/// Groups are taken in a seeded order, largest first, each to the fold with the fewest
/// items so far (the lowest-numbered on a tie), so folds differ in size by at most the
/// largest group.
pub fn assign(items: &[(i64, Option<String>)], k: usize, seed: u64) -> Vec<usize> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (pair, patient)) in items.iter().enumerate() {
        let key = match patient {
            Some(p) => format!("patient:{p}"),
            None => format!("pair:{pair}"),
        };
        groups.entry(key).or_default().push(i);
    }
    let mut order: Vec<(u64, Vec<usize>)> = groups
        .into_iter()
        .map(|(key, members)| {
            let h = blake3::hash(key.as_bytes());
            let mut b = [0u8; 8];
            b.copy_from_slice(&h.as_bytes()[..8]);
            let mut r = pairlab_ml::rng::SplitMix64(u64::from_le_bytes(b) ^ seed);
            (r.next_u64(), members)
        })
        .collect();
    order.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let mut sizes = vec![0usize; k.max(1)];
    let mut out = vec![0usize; items.len()];
    for (_, members) in order {
        let f = (0..sizes.len()).min_by_key(|&f| (sizes[f], f)).unwrap_or(0);
        sizes[f] += members.len();
        for m in members {
            out[m] = f;
        }
    }
    out
}

/// How many distinct groups (patients, or pairs without one) the items form.
pub fn groups(items: &[(i64, Option<String>)]) -> usize {
    let mut keys: Vec<String> = items
        .iter()
        .map(|(pair, p)| match p {
            Some(p) => format!("patient:{p}"),
            None => format!("pair:{pair}"),
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_stays_in_one_fold_and_folds_are_balanced() {
        let items: Vec<(i64, Option<String>)> = (0..1000)
            .map(|i| (i, (i % 7 != 0).then(|| format!("p{}", i % 230))))
            .collect();
        let folds = assign(&items, 5, 3);
        let mut fold_of: std::collections::HashMap<&str, usize> = Default::default();
        for ((_, p), f) in items.iter().zip(&folds) {
            if let Some(p) = p {
                assert_eq!(*fold_of.entry(p.as_str()).or_insert(*f), *f, "patient {p}");
            }
        }
        let mut sizes = [0usize; 5];
        folds.iter().for_each(|&f| sizes[f] += 1);
        let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
        let (lo, hi) = (lo.copied().unwrap_or(0), hi.copied().unwrap_or(0));
        // The largest group has 5 pairs.
        assert!(hi - lo <= 5, "{sizes:?}");
        assert_eq!(assign(&items, 5, 3), folds, "seeded");
        assert_ne!(assign(&items, 5, 4), folds, "another seed, other folds");
        assert_eq!(groups(&items), 230 + 143);
    }
}
