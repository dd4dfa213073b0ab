//! Near duplicates that are really the same picture. X-rays look alike: two different
//! patients' films often have the same or a close dHash. A pair of images within the dHash
//! distance is only a candidate; it counts as a near duplicate when the two thumbnails agree
//! pixel by pixel after each is normalised (so a copy that was re-encoded, resized or
//! re-windowed still agrees, while a look-alike differs somewhere: a device, a lesion, the
//! shape of the lungs). Confirmed pairs are grouped into clusters.

use std::path::Path;

/// The side of the grey square thumbnails are compared at.
const SIDE: u32 = 32;
/// The side of the blocks whose mean difference must stay small everywhere.
const BLOCK: usize = 4;
/// Largest mean |difference| over the whole square, in standard deviations. (On the demo
/// corpus, whose films of different patients look alike, the closest look-alikes differ by
/// 0.106 or more overall and 0.30 or more in their worst block; a re-encoded, re-windowed
/// copy by a few hundredths.)
pub const MAX_MEAN_DIFF: f32 = 0.05;
/// Largest mean |difference| of any one block, in standard deviations.
pub const MAX_BLOCK_DIFF: f32 = 0.2;

/// A thumbnail (a path under `thumbs`) as a `SIDE`² grey square with zero mean and unit
/// variance; None when it is missing, unreadable or flat.
pub fn signature(thumbs: &Path, rel: &str) -> Option<Vec<f32>> {
    let rel = Path::new(rel);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return None;
    }
    let img = image::open(thumbs.join(rel)).ok()?;
    let grey = img
        .resize_exact(SIDE, SIDE, image::imageops::FilterType::Triangle)
        .to_luma32f();
    normalised(grey.into_raw())
}

/// Zero mean and unit variance; None for a flat image.
pub fn normalised(mut v: Vec<f32>) -> Option<Vec<f32>> {
    let n = v.len() as f32;
    let mean = v.iter().sum::<f32>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n).sqrt();
    if sd < 1e-4 {
        return None;
    }
    v.iter_mut().for_each(|x| *x = (*x - mean) / sd);
    Some(v)
}

/// Whether two signatures show the same picture: small differences overall and in every
/// block.
pub fn same_picture(a: &[f32], b: &[f32]) -> bool {
    let side = SIDE as usize;
    if a.len() != side * side || b.len() != a.len() {
        return false;
    }
    let diff: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
    if diff.iter().sum::<f32>() / diff.len() as f32 > MAX_MEAN_DIFF {
        return false;
    }
    for by in (0..side).step_by(BLOCK) {
        for bx in (0..side).step_by(BLOCK) {
            let mut sum = 0.0;
            for y in by..by + BLOCK {
                sum += diff[y * side + bx..y * side + bx + BLOCK]
                    .iter()
                    .sum::<f32>();
            }
            if sum / (BLOCK * BLOCK) as f32 > MAX_BLOCK_DIFF {
                return false;
            }
        }
    }
    true
}

/// Splits candidate pairs `(distance, a, b)` into the same pictures, a count of
/// look-alikes and a count of pairs that could not be checked; `signature_of` gives an
/// image's signature (asked once per image).
pub fn confirm(
    candidates: Vec<(u32, usize, usize)>,
    signature_of: impl Fn(usize) -> Option<Vec<f32>>,
) -> (Vec<(u32, usize, usize)>, u64, u64) {
    let mut signatures: std::collections::HashMap<usize, Option<Vec<f32>>> = Default::default();
    let (mut same, mut look_alikes, mut unchecked) = (Vec::new(), 0u64, 0u64);
    for (d, a, b) in candidates {
        for i in [a, b] {
            signatures.entry(i).or_insert_with(|| signature_of(i));
        }
        match (&signatures[&a], &signatures[&b]) {
            (Some(x), Some(y)) if same_picture(x, y) => same.push((d, a, b)),
            (Some(_), Some(_)) => look_alikes += 1,
            _ => unchecked += 1,
        }
    }
    (same, look_alikes, unchecked)
}

/// Groups of indices joined by `links` (union–find), each sorted, in order of their
/// smallest member.
pub fn clusters(n: usize, links: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for &(a, b) in links {
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for &(a, b) in links {
        for i in [a, b] {
            let r = root(&mut parent, i);
            groups.entry(r).or_default().push(i);
        }
    }
    groups
        .into_values()
        .map(|mut g| {
            g.sort_unstable();
            g.dedup();
            g
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth picture with structure, as a SIDE² square.
    fn picture(seed: f32) -> Vec<f32> {
        let s = SIDE as usize;
        (0..s * s)
            .map(|i| {
                let (x, y) = ((i % s) as f32, (i / s) as f32);
                (x * 0.3 + seed).sin() + (y * 0.2).cos() + 0.02 * x
            })
            .collect()
    }

    #[test]
    fn a_copy_agrees_and_a_look_alike_with_a_local_difference_does_not() {
        let a = normalised(picture(0.0)).expect("a");
        // A re-windowed copy with a little noise: brighter, more contrast.
        let copy: Vec<f32> = picture(0.0)
            .iter()
            .enumerate()
            .map(|(i, v)| 1.7 * v + 30.0 + 0.01 * ((i * 7919) % 13) as f32)
            .collect();
        assert!(same_picture(&a, &normalised(copy).expect("copy")));
        // The same film with a bright device in one corner: a look-alike, not a copy.
        let mut device = picture(0.0);
        for y in 2..8 {
            for x in 2..8 {
                device[y * SIDE as usize + x] += 6.0;
            }
        }
        assert!(!same_picture(&a, &normalised(device).expect("device")));
        // Another picture altogether.
        assert!(!same_picture(&a, &normalised(picture(1.3)).expect("other")));
        assert!(
            normalised(vec![0.5; 1024]).is_none(),
            "a flat image has no signature"
        );
    }

    #[test]
    fn clusters_join_every_linked_pair() {
        assert_eq!(
            clusters(6, &[(4, 1), (1, 2), (3, 5)]),
            vec![vec![1, 2, 4], vec![3, 5]]
        );
        assert!(clusters(3, &[]).is_empty());
    }
}
