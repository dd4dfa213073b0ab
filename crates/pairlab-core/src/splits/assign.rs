//! Assigning samples to named parts (train/val/test, …) for ML dataset
//! splits in medical imaging.
//!
//! # Determinism
//!
//! All randomness comes from an inline SplitMix64 generator seeded with
//! [`SplitSpec::seed`]; shuffles are Fisher–Yates with unbiased bounded draws
//! (Lemire's multiply-shift with rejection). No `HashMap` iteration order or
//! platform RNG is involved, so the same items (in the same order), spec and
//! seed give the same assignment on every platform and Rust version.
//!
//! # Identifiers
//!
//! Patient ids are trimmed (DICOM pads with spaces); a blank patient id is
//! treated like `None` (unknown patient), both in [`assign`] and [`leakage`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

/// How items are distributed over parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Shuffle all items, then cut them into parts of exact sizes.
    Random,
    /// Like [`Strategy::Random`], but separately within each stratum.
    Stratified,
    /// Keep all items of a patient in one part (no patient leakage).
    Patient,
}

/// One sample to be assigned to a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Sample id, echoed in the output.
    pub id: i64,
    /// Patient the sample belongs to; `None` (or blank) means unknown, and
    /// the item then forms its own group, keyed by its id.
    pub patient: Option<String>,
    /// Stratum label (e.g. diagnosis); items with `None` form their own
    /// stratum.
    pub stratum: Option<String>,
}

/// What to split into, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSpec {
    /// Part names and ratios. Ratios must be finite and > 0; they are
    /// normalised internally, so `[8, 1, 1]` equals `[0.8, 0.1, 0.1]`.
    pub parts: Vec<(String, f64)>,
    /// Seed for the deterministic shuffle.
    pub seed: u64,
    /// Assignment strategy.
    pub strategy: Strategy,
}

/// An invalid split specification or ratio string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError(pub String);

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SplitError {}

fn fail<T>(msg: impl Into<String>) -> Result<T, SplitError> {
    Err(SplitError(msg.into()))
}

/// Parses a comma-separated ratio list such as `"0.8,0.1,0.1"` or `"8,1,1"`.
///
/// Every entry must be a finite number > 0; whitespace around entries is
/// ignored. The ratios are returned as written (not normalised).
pub fn parse_ratios(s: &str) -> Result<Vec<f64>, SplitError> {
    if s.trim().is_empty() {
        return fail("no ratios given");
    }
    s.split(',')
        .map(|tok| {
            let tok = tok.trim();
            let r: f64 = tok
                .parse()
                .map_err(|_| SplitError(format!("invalid ratio {tok:?}")))?;
            check_ratio(r)?;
            Ok(r)
        })
        .collect()
}

fn check_ratio(r: f64) -> Result<(), SplitError> {
    if r.is_finite() && r > 0.0 {
        Ok(())
    } else {
        fail(format!("ratio must be a finite number > 0, got {r}"))
    }
}

/// Validates `spec` and returns its ratios normalised to sum to 1.
fn normalised_ratios(spec: &SplitSpec) -> Result<Vec<f64>, SplitError> {
    if spec.parts.is_empty() {
        return fail("no parts given");
    }
    let mut seen = HashSet::new();
    for (name, r) in &spec.parts {
        if name.trim().is_empty() {
            return fail("empty part name");
        }
        if !seen.insert(name.as_str()) {
            return fail(format!("duplicate part name {name:?}"));
        }
        check_ratio(*r)?;
    }
    let total: f64 = spec.parts.iter().map(|(_, r)| r).sum();
    if !total.is_finite() {
        return fail("ratios too large");
    }
    Ok(spec.parts.iter().map(|(_, r)| r / total).collect())
}

/// Assigns every item to one part of `spec`; returns `(id, part name)` in
/// the order of `items`.
///
/// * [`Strategy::Random`]: Fisher–Yates shuffle, then cut into parts whose
///   sizes are the exact largest-remainder apportionment of `n`: part `p`
///   gets `floor(n·r_p)`, and the `n − Σ floor` leftover items go to the
///   parts with the largest fractional parts (ties by part order).
/// * [`Strategy::Stratified`]: the same within each stratum (strata in
///   sorted order, `None` first). In each stratum every part gets the floor
///   or ceiling of its exact share; which parts get the ceiling is decided
///   by fractional part plus the rounding error carried over from earlier
///   strata, so overall part sizes stay within ±(number of strata) of the
///   exact target (and usually within ±1).
/// * [`Strategy::Patient`]: see *Patient strategy* below.
///
/// # Patient strategy
///
/// Items are grouped by patient (an item without a patient is its own group,
/// keyed by its id). Groups are shuffled with the seed, then stably sorted
/// by size, largest first. Each group in turn goes whole to one part:
/// among the parts it *fits* in (item deficit `n·r_p − size_p` ≥ group
/// size), the one whose per-stratum counts would exceed their targets
/// (`stratum_total·r_p`) the least, then the largest deficit, then part
/// order; if it fits nowhere, the part with the largest deficit.
///
/// *Guaranteed*: no patient appears in two parts. *Best effort*: ratios
/// and stratum mix, although the rule above bounds every part's size to
/// within the largest group size of its target.
///
/// # Errors
///
/// No parts, an empty or duplicate part name, or a ratio that is ≤ 0, NaN
/// or infinite. The spec is validated even when `items` is empty (which
/// gives an empty result).
pub fn assign(items: &[Item], spec: &SplitSpec) -> Result<Vec<(i64, String)>, SplitError> {
    let ratios = normalised_ratios(spec)?;
    let mut rng = SplitMix64(spec.seed);
    let part_of = match spec.strategy {
        Strategy::Random => {
            let all: Vec<usize> = (0..items.len()).collect();
            let mut out = vec![0; items.len()];
            cut(
                all,
                &ratios,
                &mut vec![0.0; ratios.len()],
                &mut rng,
                &mut out,
            );
            out
        }
        Strategy::Stratified => by_stratum(items, &ratios, &mut rng),
        Strategy::Patient => by_patient(items, &ratios, &mut rng),
    };
    Ok(items
        .iter()
        .zip(part_of)
        .map(|(item, p)| (item.id, spec.parts[p].0.clone()))
        .collect())
}

/// Shuffles `members` and writes part indices for them into `out`, with
/// part sizes from [`apportion`]; updates the carried rounding error.
fn cut(
    mut members: Vec<usize>,
    ratios: &[f64],
    carry: &mut [f64],
    rng: &mut SplitMix64,
    out: &mut [usize],
) {
    shuffle(&mut members, rng);
    let n = members.len();
    let sizes = apportion(n, ratios, carry);
    let mut rest = members.as_slice();
    for (p, &size) in sizes.iter().enumerate() {
        let (head, tail) = rest.split_at(size.min(rest.len()));
        for &i in head {
            out[i] = p;
        }
        rest = tail;
        carry[p] += n as f64 * ratios[p] - size as f64;
    }
}

/// Largest-remainder (Hamilton) apportionment of `n` over normalised
/// `ratios`. Leftover units go to parts with a fractional share, by largest
/// `fraction + carry` (carry 0 = plain largest remainder), ties by part
/// order.
fn apportion(n: usize, ratios: &[f64], carry: &[f64]) -> Vec<usize> {
    let exact: Vec<f64> = ratios.iter().map(|r| n as f64 * r).collect();
    let mut sizes: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let frac: Vec<f64> = exact
        .iter()
        .zip(&sizes)
        .map(|(e, &s)| e - s as f64)
        .collect();
    let left = n.saturating_sub(sizes.iter().sum());
    let mut order: Vec<usize> = (0..ratios.len()).collect();
    order.sort_by(|&a, &b| {
        (frac[b] > 1e-9)
            .cmp(&(frac[a] > 1e-9))
            .then((frac[b] + carry[b]).total_cmp(&(frac[a] + carry[a])))
            .then(a.cmp(&b))
    });
    for &p in order.iter().cycle().take(left) {
        sizes[p] += 1;
    }
    sizes
}

/// Normalised patient id: trimmed, `None` when blank.
fn patient_key(p: Option<&str>) -> Option<&str> {
    p.map(str::trim).filter(|p| !p.is_empty())
}

/// Stratum index per item (strata sorted, `None` first) and stratum sizes.
fn strata(items: &[Item]) -> (Vec<usize>, Vec<usize>) {
    let keys: BTreeSet<Option<&str>> = items.iter().map(|i| i.stratum.as_deref()).collect();
    let index: BTreeMap<Option<&str>, usize> = keys.into_iter().zip(0..).collect();
    let of: Vec<usize> = items
        .iter()
        .map(|i| index.get(&i.stratum.as_deref()).copied().unwrap_or(0))
        .collect();
    let mut sizes = vec![0; index.len()];
    for &s in &of {
        sizes[s] += 1;
    }
    (of, sizes)
}

fn by_stratum(items: &[Item], ratios: &[f64], rng: &mut SplitMix64) -> Vec<usize> {
    let (stratum_of, sizes) = strata(items);
    let mut members: Vec<Vec<usize>> = sizes.iter().map(|&s| Vec::with_capacity(s)).collect();
    for (i, &s) in stratum_of.iter().enumerate() {
        members[s].push(i);
    }
    let mut out = vec![0; items.len()];
    let mut carry = vec![0.0; ratios.len()];
    for m in members {
        cut(m, ratios, &mut carry, rng, &mut out);
    }
    out
}

#[derive(Hash, PartialEq, Eq)]
enum GroupKey<'a> {
    Patient(&'a str),
    Solo(i64),
}

fn by_patient(items: &[Item], ratios: &[f64], rng: &mut SplitMix64) -> Vec<usize> {
    let (stratum_of, stratum_sizes) = strata(items);
    let mut index: HashMap<GroupKey<'_>, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = match patient_key(item.patient.as_deref()) {
            Some(p) => GroupKey::Patient(p),
            None => GroupKey::Solo(item.id),
        };
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    shuffle(&mut groups, rng);
    groups.sort_by_key(|g| Reverse(g.len())); // stable: ties keep shuffled order

    let n = items.len() as f64;
    let k = ratios.len();
    let mut count = vec![0usize; k];
    let mut scount = vec![vec![0usize; stratum_sizes.len()]; k];
    let mut out = vec![0; items.len()];
    for group in &groups {
        let mut mix: BTreeMap<usize, usize> = BTreeMap::new();
        for &i in group {
            *mix.entry(stratum_of[i]).or_default() += 1;
        }
        let size = group.len() as f64;
        let deficit = |p: usize| n * ratios[p] - count[p] as f64;
        let over = |p: usize| -> f64 {
            mix.iter()
                .map(|(&s, &c)| {
                    let after = (scount[p][s] + c) as f64;
                    (after - stratum_sizes[s] as f64 * ratios[p]).max(0.0)
                })
                .sum()
        };
        let mut candidates: Vec<usize> = (0..k).filter(|&p| deficit(p) >= size - 1e-9).collect();
        if candidates.is_empty() {
            let best = (0..k).map(deficit).fold(f64::NEG_INFINITY, f64::max);
            candidates = (0..k).filter(|&p| deficit(p) >= best).collect();
        }
        let chosen = candidates
            .into_iter()
            .min_by(|&a, &b| {
                over(a)
                    .total_cmp(&over(b))
                    .then(deficit(b).total_cmp(&deficit(a)))
                    .then(a.cmp(&b))
            })
            .unwrap_or(0);
        for &i in group {
            out[i] = chosen;
            scount[chosen][stratum_of[i]] += 1;
        }
        count[chosen] += group.len();
    }
    out
}

/// Audits an assignment for patient leakage: returns every patient found in
/// more than one part, with those parts (sorted), ordered by patient id.
/// Items whose `patient_of` is `None` or blank are ignored.
pub fn leakage(
    assignments: &[(i64, String)],
    patient_of: &dyn Fn(i64) -> Option<String>,
) -> Vec<(String, Vec<String>)> {
    let mut parts_of: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (id, part) in assignments {
        if let Some(p) = patient_of(*id)
            && let Some(key) = patient_key(Some(&p))
        {
            parts_of.entry(key.to_owned()).or_default().insert(part);
        }
    }
    parts_of
        .into_iter()
        .filter(|(_, parts)| parts.len() > 1)
        .map(|(p, parts)| (p, parts.into_iter().map(str::to_owned).collect()))
        .collect()
}

/// SplitMix64 (Steele, Lea & Flood 2014), constants as in Vigna's reference
/// `splitmix64.c`: a 64-bit counter stepped by the golden-ratio increment,
/// then mixed. Tiny, fast, and plenty for shuffling.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0), unbiased (Lemire 2019).
    fn below(&mut self, bound: u64) -> u64 {
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(bound);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

/// Fisher–Yates (Durstenfeld) shuffle.
fn shuffle<T>(v: &mut [T], rng: &mut SplitMix64) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
#[path = "assign_tests.rs"]
mod tests;
