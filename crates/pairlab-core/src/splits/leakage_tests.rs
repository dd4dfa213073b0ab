//! Near-duplicate leakage on the demo corpus, whose synthetic X-rays look alike (as real
//! ones do): the pairs across parts are counted in full and listed closest first, capped.

use super::*;

fn distance(s: &Shared) -> u32 {
    s.key
        .strip_prefix("dHash distance ")
        .and_then(|d| d.parse().ok())
        .expect("a near-duplicate key names its distance")
}

#[test]
fn near_duplicates_are_counted_in_full_and_listed_closest_first_up_to_the_cap() -> Result<()> {
    let tmp = tempfile::tempdir().expect("temp dir");
    let lib_dir = crate::demo::prelabelled_library(tmp.path(), 20, 3)?;
    crate::demo::split_by_patient(&lib_dir, "s")?;
    let lib = crate::Library::open(&lib_dir)?;
    let all = leakage_listing(lib.conn(), "s", 4, usize::MAX)?;
    let listed = leakage_listing(lib.conn(), "s", 4, 5)?;

    assert!(all.near_total > 5, "{} near pairs", all.near_total);
    assert_eq!(all.near_duplicates.len() as u64, all.near_total);
    assert_eq!(listed.near_total, all.near_total);
    assert_eq!(listed.near_duplicates.len(), 5);
    assert_eq!(listed.near_duplicates[..], all.near_duplicates[..5]);
    assert!(!listed.is_clean());
    let d: Vec<u32> = all.near_duplicates.iter().map(distance).collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "closest first: {d:?}");
    assert!(d.iter().all(|&d| d <= 4));
    for s in &all.near_duplicates {
        assert_eq!(s.parts.len(), 2);
        assert_ne!(s.parts[0], s.parts[1], "{s:?} crosses parts");
        assert_eq!(s.pairs.len(), 2);
    }
    // The same split at distance 0 lists only identical hashes, and the public call caps.
    let strict = leakage(lib.conn(), "s", 0)?;
    assert!(strict.near_total < all.near_total);
    assert!(strict.near_duplicates.len() <= NEAR_LISTED);
    Ok(())
}
