use std::time::{Duration, Instant};

use super::*;

fn wait_end(jobs: &Jobs, id: u64) -> JobState {
    let job = jobs.get(id).expect("job");
    let (mut seen, mut state) = (0, job.snapshot());
    let deadline = Instant::now() + Duration::from_secs(60);
    while state.is_running() && Instant::now() < deadline {
        (seen, state) = job.wait_change(seen, Duration::from_millis(200));
    }
    state
}

#[test]
fn a_job_reports_progress_and_its_result() -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let jobs = Jobs::new(tmp.path().join("lib"));
    let started = jobs.start("count", |_lib, job| {
        job.stage("counting", 3);
        job.advance(3);
        job.message("all three");
        job.subject("count", 3);
        Ok(serde_json::json!({"counted": 3}))
    })?;
    let end = wait_end(&jobs, started.job);
    assert_eq!(end.status, JobStatus::Done);
    assert_eq!((end.position, end.total), (3, 3));
    assert_eq!(end.stage.as_deref(), Some("counting"));
    assert_eq!(end.message.as_deref(), Some("all three"));
    assert_eq!(
        end.subject,
        Some(JobSubject {
            kind: "count".into(),
            id: 3
        })
    );
    assert_eq!(end.result, Some(serde_json::json!({"counted": 3})));
    assert_eq!(jobs.all().len(), 1);
    Ok(())
}

#[test]
fn cancelling_stops_a_job_and_errors_and_panics_fail_it() -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let jobs = Jobs::new(tmp.path().join("lib"));
    let waiting = jobs.start("wait", |_lib, job| {
        while !job.is_cancelled() {
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(Error::Cancelled)
    })?;
    assert!(jobs.state(waiting.job)?.is_running());
    assert!(jobs.cancel(waiting.job)?.cancel_requested);
    assert_eq!(wait_end(&jobs, waiting.job).status, JobStatus::Cancelled);

    let failing = jobs.start("fail", |_lib, _job| Err(Error::Invalid("bad input".into())))?;
    let end = wait_end(&jobs, failing.job);
    assert_eq!(end.status, JobStatus::Failed);
    assert_eq!(
        end.error,
        Some(serde_json::json!({"kind": "invalid", "message": "invalid input: bad input"}))
    );
    let panicking = jobs.start("panic", |_lib, _job| panic!("boom"))?;
    assert_eq!(wait_end(&jobs, panicking.job).status, JobStatus::Failed);
    assert!(matches!(jobs.state(99), Err(Error::NotFound(_))));
    Ok(())
}

#[test]
fn an_index_job_indexes_a_folder_and_refuses_relative_or_missing_ones() -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus).map_err(|e| Error::io(&corpus, e))?;
    let img = image::GrayImage::from_fn(8, 8, |x, y| image::Luma([(x * 16 + y) as u8]));
    img.save(corpus.join("a.png"))
        .map_err(|e| Error::io("png", std::io::Error::other(e)))?;
    std::fs::write(corpus.join("a.txt"), "Heart size normal.").map_err(|e| Error::io("txt", e))?;
    std::fs::write(corpus.join("broken.png"), b"not a png").map_err(|e| Error::io("png", e))?;
    let jobs = Jobs::new(tmp.path().join("lib"));
    let args = |root: &str| IndexArgs {
        root: root.into(),
        layout: None,
        manifest: None,
    };
    let started = jobs.start_index(args(&corpus.to_string_lossy()))?;
    let end = wait_end(&jobs, started.job);
    assert_eq!(end.status, JobStatus::Done, "{end:?}");
    let result = end.result.expect("index summary");
    assert_eq!(end.subject.map(|s| s.kind), Some("corpus".to_owned()));
    assert_eq!(
        (result["pairs"].as_u64(), result["errors"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(matches!(
        jobs.start_index(args("relative/path")),
        Err(Error::Invalid(_))
    ));
    let gone = tmp.path().join("gone");
    assert!(matches!(
        jobs.start_index(args(&gone.to_string_lossy())),
        Err(Error::NotFound(_))
    ));
    Ok(())
}

#[test]
fn the_demo_job_writes_indexes_and_trains_in_the_library_one_at_a_time() -> Result<()> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let lib = tmp.path().join("lib");
    let jobs = Jobs::new(&lib);
    let started = jobs.start_demo(DemoArgs { patients: Some(4) })?;
    // One at a time: a second would write the same folder.
    assert!(matches!(
        jobs.start_demo(DemoArgs { patients: Some(4) }),
        Err(Error::Conflict(_))
    ));
    let end = wait_end(&jobs, started.job);
    assert_eq!(end.status, JobStatus::Done, "{end:?}");
    assert_eq!(end.kind, "demo");
    let result = end.result.clone().expect("the tour");
    assert_eq!(
        result["corpus"].as_str().map(std::path::PathBuf::from),
        Some(lib.join("demo-corpus"))
    );
    assert!(
        end.message
            .as_deref()
            .unwrap_or("")
            .contains("on the test part"),
        "{end:?}"
    );
    let opened = Library::open(&lib)?;
    let stats = opened.stats()?;
    assert_eq!(stats.corpora, 1);
    assert!(stats.counts.pairs > 0);
    let run = result["run"].as_i64().expect("run id");
    assert!(opened.runs()?.iter().any(|r| r.run_id == run));
    // A second demo reuses the corpus it wrote: still one corpus.
    let again = wait_end(&jobs, jobs.start_demo(DemoArgs { patients: Some(4) })?.job);
    assert_eq!(again.status, JobStatus::Done, "{again:?}");
    assert_eq!(Library::open(&lib)?.stats()?.corpora, 1);
    for patients in [0, 2001] {
        assert!(matches!(
            jobs.start_demo(DemoArgs {
                patients: Some(patients)
            }),
            Err(Error::InvalidField { .. })
        ));
    }
    Ok(())
}
