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
    let looped = env.query("SELECT message FROM ingest_errors WHERE path = 'loop/up'");
    assert_eq!(
        looped,
        vec![vec![
            "symbolic link loop back to the corpus folder itself; not followed"
        ]]
    );
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

/// Nothing a corpus names is read from outside its root: a manifest's report_path or image
/// pointing out (absolute, `..`, or through a link), and a symbolic link in the folder to
/// a file or a folder outside, are each an `outside_root` error row; the outside files'
/// text is never stored or searchable.
#[test]
fn paths_a_corpus_names_never_lead_outside_its_root() {
    let env = Env::new();
    let outside = env.corpus.with_file_name("outside");
    std::fs::create_dir_all(outside.join("dir")).expect("outside dir");
    let secret = outside.join("secret.txt");
    std::fs::write(&secret, "SECRET-TOKEN-4711 pneumothorax").expect("secret");
    std::fs::write(outside.join("dir/x.png"), crate::util::png_bytes(32, 32, 9)).expect("png");
    std::fs::write(outside.join("dir/x.txt"), "SECRET-TOKEN-4711").expect("txt");
    env.png("img/1.png", 1);
    env.png("img/2.png", 2);
    env.png("img/3.png", 3);
    env.write("reports/ok.txt", "FINDINGS: Small effusion.");
    std::os::unix::fs::symlink(&secret, env.path("reports/link.txt")).expect("link");
    env.write(
        "manifest.csv",
        format!(
            "image,report_path\n\
             img/1.png,{}\n\
             img/2.png,../outside/secret.txt\n\
             img/3.png,reports/link.txt\n\
             ../outside/dir/x.png,reports/ok.txt\n",
            secret.display()
        ),
    );
    let v = env.index(&["--layout", "manifest"]);
    // Three images kept, each without its report; the fourth row's image is outside.
    assert_eq!(
        (v["images"].as_u64(), v["reports"].as_u64()),
        (Some(3), Some(0)),
        "{v}"
    );
    let outside_rows: Vec<String> = env
        .errors()
        .into_iter()
        .filter(|(_, kind)| kind == "outside_root")
        .map(|(path, _)| path)
        .collect();
    assert_eq!(outside_rows.len(), 4, "{:?}", env.errors());
    let stored = env.query("SELECT COUNT(*) FROM reports WHERE text LIKE '%SECRET-TOKEN%'");
    assert_eq!(stored, vec![vec!["0"]]);
    let found = env.json(&["search", "SECRET", "--json"]);
    assert_eq!(found.as_array().map(Vec::len), Some(0), "{found}");

    // A folder corpus with links out: a linked file and a linked folder are not followed.
    let env = Env::new();
    env.png("a.png", 1);
    env.write("a.txt", "FINDINGS: Clear.");
    std::os::unix::fs::symlink(outside.join("dir"), env.path("linked-dir")).expect("dir link");
    std::os::unix::fs::symlink(outside.join("dir/x.png"), env.path("b.png")).expect("file link");
    std::os::unix::fs::symlink(outside.join("dir/x.txt"), env.path("b.txt")).expect("file link");
    // A link that stays inside the root is followed as before.
    std::os::unix::fs::symlink(env.path("a.png"), env.path("c.png")).expect("inner link");
    let v = env.index(&[]);
    assert_eq!(v["images"], 2, "a.png and the inner link c.png: {v}");
    let mut rows: Vec<(String, String)> = env
        .errors()
        .into_iter()
        .filter(|(_, kind)| kind == "outside_root")
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("b.png".to_string(), "outside_root".to_string()),
            ("b.txt".to_string(), "outside_root".to_string()),
            ("linked-dir".to_string(), "outside_root".to_string()),
        ]
    );
    let stored = env.query("SELECT COUNT(*) FROM reports WHERE text LIKE '%SECRET-TOKEN%'");
    assert_eq!(stored, vec![vec!["0"]]);
}

/// A manifest that is not one (any file given as --manifest) is refused without echoing
/// its content.
#[test]
fn a_file_given_as_manifest_is_never_echoed() {
    let env = Env::new();
    env.png("a.png", 1);
    let not_manifest = env.corpus.with_file_name("private.csv");
    std::fs::write(
        &not_manifest,
        "root:x:0:0:SECRET-TOKEN-4711:/root:/bin/bash\nline two\n",
    )
    .expect("file");
    let out = env
        .command(&[
            "index",
            &env.corpus.to_string_lossy(),
            "--layout",
            "manifest",
            "--manifest",
            &not_manifest.to_string_lossy(),
        ])
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("no `image` column"), "{text}");
    assert!(!text.contains("SECRET-TOKEN"), "{text}");
}

/// The validation list of issue 18: each of these was accepted silently before.
#[test]
fn requests_and_files_that_would_be_misread_are_refused_clearly() {
    let env = Env::new();
    env.png("a.png", 1);
    env.write("a.txt", "FINDINGS: Clear.");
    env.index(&[]);
    let fails = |args: &[&str], want: &str| {
        let out = env.command(args).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
    };
    // Annotators: empty, too long, with control characters.
    fails(
        &["label", "set", "1", "Edema", "1", "--annotator", " "],
        "annotator",
    );
    let long = "x".repeat(65);
    fails(
        &["label", "set", "1", "Edema", "1", "--annotator", &long],
        "at most 64",
    );
    fails(
        &["label", "undo", "--annotator", "a\tb"],
        "control characters",
    );
    // -0 is 0, like -0.0.
    env.run(&["label", "set", "1", "Edema", "-0", "--annotator", "ann"]);
    let shown = env.json(&["label", "show", "1", "--json"]);
    assert_eq!(shown["labels"][0]["value"], 0, "{shown}");
    // Schema files: unknown keys and control characters in class names.
    let typo = env.write(
        "s1.toml",
        "name = \"s1\"\nkind = \"multi-label\"\nclases = [\"A\"]\n",
    );
    fails(&["schema", "add", &typo.to_string_lossy()], "clases");
    let nul = env.write(
        "s2.toml",
        "name = \"s2\"\nkind = \"multi-label\"\nclasses = [\"A\\u0000B\"]\n",
    );
    fails(
        &["schema", "add", &nul.to_string_lossy()],
        "control characters",
    );
    // A manifest with two columns of one name.
    let env2 = Env::new();
    env2.png("b.png", 2);
    env2.write("m.csv", "image,Edema,Edema\nb.png,1,0\n");
    let out = env2
        .command(&[
            "index",
            &env2.corpus.to_string_lossy(),
            "--layout",
            "manifest",
        ])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("columns 2 and 3 are both named \"Edema\""),
        "{err}"
    );
    // label-reports: an unbalanced quote would merge every later row into one report.
    let input = env.write("r.csv", "\"Edema.\"\n\"No effusion.\nCardiomegaly.\n");
    let output = env.corpus.join("out.csv");
    fails(
        &[
            "label-reports",
            "--input",
            &input.to_string_lossy(),
            "--output",
            &output.to_string_lossy(),
        ],
        "line 2",
    );
    assert!(!output.exists(), "nothing written");
}

/// Temporary thumbnails a killed index run left behind are removed by the next run (the
/// killed run's `.writing-<pid>` marker says there are some); those of a process still
/// running are kept, and a run that ends leaves no marker.
#[test]
fn stale_temporary_thumbnails_are_cleaned() {
    let env = Env::new();
    env.png("a.png", 1);
    env.index(&[]);
    let thumbs = env.library.join("thumbs");
    let sub = thumbs.join("ab");
    std::fs::create_dir_all(&sub).expect("dir");
    // No process has pid 4194305 (above Linux's largest pid).
    let stale = sub.join("ab12.png.4194305-0.tmp");
    let live = sub.join(format!("ab34.png.{}-0.tmp", std::process::id()));
    std::fs::write(&stale, b"half a thumbnail").expect("stale");
    std::fs::write(&live, b"being written").expect("live");
    std::fs::write(thumbs.join(".writing-4194305"), b"").expect("marker");
    env.png("b.png", 2);
    env.index(&[]);
    assert!(!stale.exists(), "the dead run's file is gone");
    assert!(live.exists(), "a running process's file is kept");
    let markers: Vec<_> = std::fs::read_dir(&thumbs)
        .expect("thumbs")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".writing-"))
        .collect();
    assert!(markers.is_empty(), "no marker left: {markers:?}");
}

/// Decoding stays within its memory bound: two 4,000² 16-bit RGBA PNGs (128 MB each
/// decoded whole) are indexed, each with its size, depth and thumbnail, by a process whose
/// peak resident memory stays under 200 MB (reading them whole took over 256 MB).
#[test]
#[allow(unsafe_code, reason = "wait4(2) for the child's peak memory")]
fn large_pngs_are_indexed_in_bounded_memory() {
    let env = Env::new();
    for i in 0..2u32 {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, 4000, 4000);
            enc.set_color(png::ColorType::Rgba);
            enc.set_depth(png::BitDepth::Sixteen);
            enc.set_compression(png::Compression::Fast);
            let mut writer = enc.write_header().expect("header");
            let mut stream = writer.stream_writer().expect("stream");
            let row: Vec<u8> = (0..4000u32)
                .flat_map(|x| {
                    let v = ((x * 16 + i * 1000) % 65536) as u16;
                    [
                        v.to_be_bytes(),
                        v.to_be_bytes(),
                        v.to_be_bytes(),
                        [255, 255],
                    ]
                    .concat()
                })
                .collect();
            for _ in 0..4000 {
                std::io::Write::write_all(&mut stream, &row).expect("row");
            }
            stream.finish().expect("finish");
        }
        env.write(&format!("big{i}.png"), out);
    }
    let child = env
        .command(&["index", &env.corpus.to_string_lossy(), "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("index starts");
    let pid = child.id() as libc::pid_t;
    let out = child.wait_with_output_rusage(pid);
    let (status, stdout, peak_kib) = out;
    assert!(status, "index failed: {stdout}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["images"], 2, "{v}");
    let rows = env.query("SELECT width, height, bits FROM images ORDER BY path");
    assert_eq!(rows, vec![vec!["4000", "4000", "16"]; 2]);
    assert!(
        peak_kib < 200 * 1024,
        "peak resident memory {} MiB",
        peak_kib / 1024
    );
}

/// Waits for a child, returning whether it succeeded, its stdout and its peak resident
/// memory in KiB (from the kernel's accounting, via wait4).
trait WaitRusage {
    fn wait_with_output_rusage(self, pid: libc::pid_t) -> (bool, String, i64);
}

impl WaitRusage for std::process::Child {
    #[allow(unsafe_code, reason = "wait4(2) for the child's peak memory")]
    fn wait_with_output_rusage(mut self, pid: libc::pid_t) -> (bool, String, i64) {
        let mut stdout = String::new();
        if let Some(mut s) = self.stdout.take() {
            std::io::Read::read_to_string(&mut s, &mut stdout).expect("stdout");
        }
        let mut status = 0;
        // SAFETY: rusage is plain old data; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(r, pid, "wait4");
        let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        (ok, stdout, usage.ru_maxrss)
    }
}

/// Indexing streams its plan folder by folder, so the peak memory of a cold index and of a
/// warm re-index of 100,000 pairs stays near 2,000 pairs' (planning the whole corpus before
/// indexing it grew by about 1 KiB a pair: 85–100 MiB more here; streamed, 0–17 MiB were
/// seen, which is noise of the decoding workers, not growth: 1M pairs peak lower).
#[test]
fn indexing_memory_stays_flat_as_the_corpus_grows() {
    let env = Env::new();
    let peaks = |n: u32| {
        let dir = env.corpus.join(format!("tiny-{n}"));
        let v = env.json(&[
            "bench",
            "ingest",
            "--kind",
            "tiny",
            "--n",
            &n.to_string(),
            "--dir",
            &dir.to_string_lossy(),
            "--json",
        ]);
        assert_eq!(v["pairs"], n, "{v}");
        assert_eq!(v["warm_unchanged"], n, "{v}");
        let mib = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {v}"));
        (mib("cold_peak_rss_mib"), mib("warm_peak_rss_mib"))
    };
    let small = peaks(2_000);
    let large = peaks(100_000);
    for (what, a, b) in [("cold", small.0, large.0), ("warm", small.1, large.1)] {
        assert!(
            b - a < 35.0,
            "{what} index peak: {a:.1} MiB at 2,000 pairs, {b:.1} MiB at 100,000"
        );
    }
}
