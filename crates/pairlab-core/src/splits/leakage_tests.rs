//! Near-duplicate leakage on the demo corpus, whose synthetic X-rays look alike (as real
//! ones do): loosely, the pairs across parts are counted in full and listed closest first,
//! capped; checked on the pixels, look-alikes are told from a planted copy.

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
    let thumbs = lib.thumbs_dir();
    let loose = NearOptions {
        distance: 4,
        loose: true,
    };
    let all = leakage_listing(lib.conn(), &thumbs, "s", loose, usize::MAX)?;
    let listed = leakage_listing(lib.conn(), &thumbs, "s", loose, 5)?;

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
    let strict = leakage(
        lib.conn(),
        &thumbs,
        "s",
        NearOptions {
            distance: 0,
            loose: true,
        },
    )?;
    assert!(strict.near_total < all.near_total);
    assert!(strict.near_duplicates.len() <= NEAR_LISTED);
    Ok(())
}

#[test]
fn checked_on_the_pixels_look_alikes_are_not_leakage_and_a_planted_copy_is() -> Result<()> {
    let tmp = tempfile::tempdir().expect("temp dir");
    let lib_dir = crate::demo::prelabelled_library(tmp.path(), 20, 3)?;
    crate::demo::split_by_patient(&lib_dir, "s")?;
    let lib = crate::Library::open(&lib_dir)?;
    let thumbs = lib.thumbs_dir();
    let near = |loose| NearOptions { distance: 4, loose };
    let loose = leakage_listing(lib.conn(), &thumbs, "s", near(true), usize::MAX)?;
    let checked = leakage_listing(lib.conn(), &thumbs, "s", near(false), usize::MAX)?;
    assert!(loose.near_total > 5, "{}", loose.near_total);
    // The demo's films are look-alikes of different patients, not copies.
    assert_eq!(checked.near_total, 0, "{:?}", checked.near_duplicates);
    assert!(checked.near_clusters.is_empty());
    assert_eq!(checked.look_alikes + checked.unchecked, loose.near_total);
    assert_eq!(checked.unchecked, 0, "every demo image has a thumbnail");

    // Plant a copy: pair b (test part) gets pair a's film (train part), re-encoded
    // brighter, and a's hash.
    let pick = |part: &str| -> Result<(i64, String, i64)> {
        Ok(lib.conn().query_row(
            "SELECT p.id, i.thumb, i.dhash FROM split_members m JOIN pairs p ON p.id = m.pair_id
             JOIN images i ON i.id = p.image_id WHERE m.part = ?1 ORDER BY p.id LIMIT 1",
            [part],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    };
    let (a, a_thumb, a_dhash) = pick("train")?;
    let (b, b_thumb, _) = pick("test")?;
    let mut film = image::open(thumbs.join(&a_thumb))
        .expect("thumbnail")
        .to_luma8();
    film.pixels_mut()
        .for_each(|p| p.0[0] = p.0[0].saturating_add(12));
    film.save(thumbs.join(&b_thumb)).expect("save");
    lib.conn().execute(
        "UPDATE images SET dhash = ?1 WHERE id = (SELECT image_id FROM pairs WHERE id = ?2)",
        rusqlite::params![a_dhash, b],
    )?;
    let planted = leakage(lib.conn(), &thumbs, "s", near(false))?;
    assert_eq!(planted.near_total, 1, "{:?}", planted.near_duplicates);
    let mut pairs = planted.near_duplicates[0].pairs.clone();
    pairs.sort_unstable();
    assert_eq!(pairs, [a.min(b), a.max(b)]);
    assert_eq!(planted.near_clusters.len(), 1);
    assert_eq!(planted.near_clusters[0].key, "2 images");
    assert_eq!(planted.near_clusters[0].parts, ["test", "train"]);
    assert!(!planted.is_clean());
    Ok(())
}
