//! Bad input never aborts a run: each bad file is one error row, the rest is indexed.

use crate::util::{Env, assert_counts, jpeg_bytes, png_bytes};

/// A PNG whose header declares `w`×`h` pixels but carries almost no data.
fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut png = png_bytes(8, 8, 1);
    // IHDR data starts at byte 16: width, height (big endian); then fix the CRC.
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn every_bad_file_is_one_error_row_and_the_rest_is_indexed() {
    let env = Env::new();
    // Good pairs, including a unicode name with spaces.
    env.png("good.png", 1);
    env.write("good.txt", "FINDINGS: Clear lungs.");
    env.png("Ünïcode folder/chest x-ray ü 1.png", 2);
    env.write("Ünïcode folder/chest x-ray ü 1.txt", "IMPRESSION: Nodule.");
    // Bad images.
    env.write("zero.png", b"");
    let png = png_bytes(64, 64, 3);
    env.write("truncated.png", &png[..png.len() / 2]);
    let jpg = jpeg_bytes(64, 64, 4);
    env.write("truncated.jpg", &jpg[..jpg.len() / 2]);
    env.write(
        "random.png",
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<_>>(),
    );
    env.write("text.jpg", "this is a text file, not a JPEG");
    env.write("bomb.png", png_declaring(100_000, 100_000));
    env.write(
        "broken.dcm",
        [vec![0u8; 128], b"DICM".to_vec(), vec![7u8; 64]].concat(),
    );
    // A valid JPEG with a .png name: indexed, with a warning row.
    env.write("mislabelled.png", jpeg_bytes(20, 20, 5));
    env.write("mislabelled.txt", "IMPRESSION: Normal.");
    // Reports: non-UTF-8 (indexed, flagged) and empty (recorded; image stays unpaired).
    env.png("latin1.png", 6);
    env.write("latin1.txt", b"FINDINGS: Epanchement pleural l\xe9ger.\n");
    env.png("empty-report.png", 7);
    env.write("empty-report.txt", "  \n\t\n");
    // A symbolic link loop and a dangling link.
    std::os::unix::fs::symlink("..", env.path("loop/up")).expect("symlink");
    std::os::unix::fs::symlink("/nonexistent/x.png", env.path("dangling.png")).expect("symlink");

    let v = env.index(&[]);
    assert_eq!(v["layout"], "stem");
    assert_counts(
        &v,
        &[
            ("pairs", 4),
            ("images", 5),
            ("reports", 4),
            ("unpaired_images", 1),
            ("unpaired_reports", 0),
            ("errors", 12),
        ],
    );
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        env.errors(),
        vec![
            s("bomb.png", "too_large"),
            s("broken.dcm", "dicom"),
            s("dangling.png", "unreadable"),
            s("empty-report.txt", "empty_report"),
            s("latin1.txt", "non_utf8"),
            s("loop/up", "symlink_loop"),
            s("mislabelled.png", "mislabelled"),
            s("random.png", "corrupt"),
            s("text.jpg", "corrupt"),
            s("truncated.jpg", "corrupt"),
            s("truncated.png", "corrupt"),
            s("zero.png", "empty"),
        ]
    );
    let lossy = env.query("SELECT text, lossy FROM reports WHERE source = 'latin1.txt'");
    assert_eq!(
        lossy,
        vec![vec!["FINDINGS: Epanchement pleural l\u{FFFD}ger.\n", "1"]]
    );
    let mis = env.query("SELECT format, width FROM images WHERE path = 'mislabelled.png'");
    assert_eq!(mis, vec![vec!["jpeg", "20"]]);
    let uni = env.query("SELECT r.source FROM pairs p JOIN images i ON i.id = p.image_id JOIN reports r ON r.id = p.report_id WHERE i.path = 'Ünïcode folder/chest x-ray ü 1.png'");
    assert_eq!(uni, vec![vec!["Ünïcode folder/chest x-ray ü 1.txt"]]);
    // Messages say what is wrong.
    let msg = env.query("SELECT message FROM ingest_errors WHERE path = 'bomb.png'");
    assert!(
        msg[0][0].contains("100000×100000") && msg[0][0].contains("refused before decoding"),
        "{msg:?}"
    );
    let msg = env.query("SELECT message FROM ingest_errors WHERE path = 'loop/up'");
    assert!(msg[0][0].contains("loop"), "{msg:?}");
}

#[test]
fn limits_are_configurable() {
    let env = Env::new();
    env.write("big.png", png_bytes(1200, 1000, 1)); // > 1 MiB? no: checked by pixels below
    env.write("huge.bin.png", vec![0u8; 2 * 1024 * 1024 + 10]);
    env.png("ok.png", 2);
    let v = env.index(&["--max-pixels", "1000000", "--max-file-mib", "1"]);
    assert_counts(&v, &[("images", 1), ("errors", 2)]);
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        env.errors(),
        vec![s("big.png", "too_large"), s("huge.bin.png", "too_large")]
    );
}
