//! The `text` trainer on a small random BERT with MiniLM's real tokenizer: what it reads
//! from a report, that it learns, what unfreezing trains, and its checkpoint.

use super::*;
use crate::train::Targets;
use crate::train::trainer::Trainer;

/// A small random BERT (MiniLM's vocabulary, 24 positions) with MiniLM's tokenizer.
pub(crate) fn tiny_bert(dir: &Path, seed: u64) {
    let cfg = serde_json::json!({
        "model_type": "bert", "vocab_size": 30522, "hidden_size": 16,
        "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
        "max_position_embeddings": 24, "hidden_act": "gelu"
    });
    crate::random_weights::write_model(dir, &cfg, crate::random_weights::Init::Random { seed })
        .expect("tiny BERT");
    let minilm = crate::model_tests::fixture("minilm");
    std::fs::copy(minilm.join("tokenizer.json"), dir.join("tokenizer.json")).expect("tokenizer");
}

fn report<'a>(text: &'a str, f: Option<&'a str>, i: Option<&'a str>) -> ReportText<'a> {
    ReportText {
        text,
        findings: f,
        impression: i,
    }
}

#[test]
fn a_long_report_loses_the_end_of_its_findings_never_its_impression() {
    let dir = tempfile::tempdir().expect("tmp");
    tiny_bert(dir.path(), 1);
    let r = Reader::load(dir.path(), Section::Both).expect("reader");
    assert_eq!((r.max_len(), r.dim()), (24, 25));
    let findings = "the heart is enlarged and there is a small left pleural effusion with \
                    basilar atelectasis and mild interstitial edema in both lungs today";
    let impression = "cardiomegaly with effusion";
    let ids = r
        .ids(report("x", Some(findings), Some(impression)))
        .expect("ids")
        .expect("some");
    let imp = r.tok.encode_plain(impression).expect("imp");
    let fin = r.tok.encode_plain(findings).expect("fin");
    assert!(
        fin.len() + imp.len() + 2 > 24,
        "the report is longer than the model reads"
    );
    assert_eq!(ids.len(), 24);
    assert_eq!((ids[0], ids[23]), (r.cls, r.sep));
    // The impression whole at the end, the findings' beginning before it.
    assert_eq!(&ids[23 - imp.len()..23], imp.as_slice());
    assert_eq!(&ids[1..23 - imp.len()], &fin[..22 - imp.len()]);
    // The row: the count, then the ids.
    let row = r
        .row(report("x", Some(findings), Some(impression)))
        .expect("row")
        .expect("some");
    assert_eq!(row[0], 24.0);
    assert_eq!(row[1], r.cls as f32);

    // Sections: a report with headings but no impression has nothing for `impression`; a
    // report without headings is read whole.
    let imp_only = Reader::load(dir.path(), Section::Impression).expect("reader");
    assert_eq!(
        imp_only
            .ids(report("x", Some("clear lungs"), None))
            .expect("ids"),
        None
    );
    let whole = imp_only
        .ids(report("no acute disease", None, None))
        .expect("ids")
        .expect("some");
    assert_eq!(
        &whole[1..whole.len() - 1],
        r.tok
            .encode_plain("no acute disease")
            .expect("t")
            .as_slice()
    );
    let fin_only = Reader::load(dir.path(), Section::Findings).expect("reader");
    let f = fin_only
        .ids(report("x", Some("clear lungs"), Some("normal")))
        .expect("ids")
        .expect("some");
    assert_eq!(
        &f[1..f.len() - 1],
        r.tok.encode_plain("clear lungs").expect("t").as_slice()
    );
    assert_eq!(r.ids(report("  ", None, None)).expect("ids"), None);
}

#[test]
fn a_text_model_without_a_matching_tokenizer_is_refused_before_training() {
    let dir = tempfile::tempdir().expect("tmp");
    tiny_bert(dir.path(), 1);
    std::fs::remove_file(dir.path().join("tokenizer.json")).expect("rm");
    let e = Reader::load(dir.path(), Section::Both)
        .err()
        .expect("no tokenizer")
        .to_string();
    assert!(e.contains("tokenizer.json is missing"), "{e}");
    // A vocabulary larger than the model's embedding table.
    let small = tempfile::tempdir().expect("tmp");
    let cfg = serde_json::json!({
        "model_type": "bert", "vocab_size": 1000, "hidden_size": 16,
        "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
        "max_position_embeddings": 24
    });
    crate::random_weights::write_model(
        small.path(),
        &cfg,
        crate::random_weights::Init::Random { seed: 2 },
    )
    .expect("write");
    std::fs::copy(
        crate::model_tests::fixture("minilm").join("tokenizer.json"),
        small.path().join("tokenizer.json"),
    )
    .expect("copy");
    let e = Reader::load(small.path(), Section::Both)
        .err()
        .expect("mismatch")
        .to_string();
    assert!(e.contains("30522") && e.contains("1000"), "{e}");
    // Not a BERT at all.
    let clip = tempfile::tempdir().expect("tmp");
    crate::model_tests::tiny_vit_clip(clip.path(), 3);
    let e = Reader::load(clip.path(), Section::Both)
        .err()
        .expect("clip")
        .to_string();
    assert!(e.contains("BERT-family") && e.contains("\"clip\""), "{e}");
}

/// Reports whose class is said by one word; the rows as core makes them.
fn reports(reader: &Reader, n: usize, offset: usize) -> (Vec<f32>, Targets) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let words = ["effusion", "pneumothorax", "normal"];
    for i in 0..n {
        let c = (i + offset) % 3;
        let text = format!("finding number {} shows {} here", (i * 7) % 13, words[c]);
        x.extend(
            reader
                .row(report(&text, None, None))
                .expect("row")
                .expect("some"),
        );
        y.push(Some(c));
    }
    (
        x,
        Targets::MultiClass {
            values: y,
            classes: 3,
        },
    )
}

fn settings(dir: &Path, unfreeze: Unfreeze, epochs: usize, lr: f64) -> Settings {
    Settings {
        epochs,
        lr,
        hidden: 0,
        size: 0,
        uncertain: Uncertain::Ignore,
        seed: 5,
        tune: super::super::finetune::Tune {
            unfreeze,
            batch: 8,
            device: DeviceChoice::Cpu,
            ..Default::default()
        },
        text: TextSettings {
            model: Some(dir.to_path_buf()),
            section: Section::Both,
            ..Default::default()
        },
    }
}

#[test]
fn fine_tuning_learns_the_reports_and_head_only_leaves_the_encoder_as_it_was() {
    let dir = tempfile::tempdir().expect("tmp");
    tiny_bert(dir.path(), 4);
    let reader = Reader::load(dir.path(), Section::Both).expect("reader");
    let (x, t) = reports(&reader, 48, 0);
    let (xv, tv) = reports(&reader, 12, 1);
    let (train, val) = (
        Part { x: &x, targets: &t },
        Part {
            x: &xv,
            targets: &tv,
        },
    );
    let text = Trainer::Text.fitter();
    assert_eq!(
        text.input(&settings(dir.path(), Unfreeze::All, 1, 1e-3)),
        Input::ReportTokens {
            model: dir.path().to_path_buf(),
            section: Section::Both
        }
    );
    let accuracy = |m: &dyn Model| {
        let p = m.predict(&xv).expect("predict");
        let Targets::MultiClass { values, .. } = &tv else {
            unreachable!()
        };
        let right = p
            .chunks(3)
            .zip(values)
            .filter(|(row, y)| {
                let best = (0..3)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(0);
                Some(best) == **y
            })
            .count();
        right as f64 / values.len() as f64
    };
    let all = text
        .fit(
            train,
            val,
            reader.dim(),
            &settings(dir.path(), Unfreeze::All, 30, 3e-2),
            &mut |_| true,
        )
        .expect("fit all");
    let first = all.history.first().expect("epochs").val_loss;
    let best = all.history[all.best_epoch - 1].val_loss;
    let curve: Vec<f64> = all.history.iter().map(|m| m.val_loss).collect();
    assert!(best < 0.5 * first, "val loss {curve:?}");
    assert!(accuracy(all.model.as_ref()) > 0.9);
    // The checkpoint is a BERT folder that loads back through the trainer, same numbers.
    let out = tempfile::tempdir().expect("tmp");
    all.model.save(out.path()).expect("save");
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "pairlab.json",
    ] {
        assert!(out.path().join(f).is_file(), "{f}");
    }
    let loaded = text.load(out.path()).expect("load");
    let (a, b) = (
        all.model.predict(&xv).expect("p"),
        loaded.predict(&xv).expect("p"),
    );
    assert!(a.iter().zip(&b).all(|(u, v)| (u - v).abs() < 1e-5));
    let saved = candle_core::safetensors::load(out.path().join("model.safetensors"), &Device::Cpu)
        .expect("read");
    let orig = candle_core::safetensors::load(dir.path().join("model.safetensors"), &Device::Cpu)
        .expect("read");
    let key = "encoder.layer.0.attention.self.query.weight";
    let moved = |a: &candle_core::Tensor, b: &candle_core::Tensor| {
        (a - b)
            .expect("d")
            .abs()
            .expect("a")
            .sum_all()
            .expect("s")
            .to_scalar::<f32>()
            .expect("v")
    };
    assert!(
        moved(&saved[key], &orig[key]) > 0.0,
        "unfreeze all trains the first layer"
    );

    // The head alone: the encoder's weights stay exactly as they were.
    let head = text
        .fit(
            train,
            val,
            reader.dim(),
            &settings(dir.path(), Unfreeze::Head, 5, 1e-2),
            &mut |_| true,
        )
        .expect("fit head");
    let out2 = tempfile::tempdir().expect("tmp");
    head.model.save(out2.path()).expect("save");
    let saved = candle_core::safetensors::load(out2.path().join("model.safetensors"), &Device::Cpu)
        .expect("read");
    for k in [
        key,
        "embeddings.word_embeddings.weight",
        "encoder.layer.1.output.dense.weight",
    ] {
        assert_eq!(moved(&saved[k], &orig[k]), 0.0, "{k}");
    }
    // Cancelling mid-epoch ends the fit with Cancelled.
    let mut calls = 0;
    let e = text
        .fit(
            train,
            val,
            reader.dim(),
            &settings(dir.path(), Unfreeze::All, 3, 1e-3),
            &mut |_| {
                calls += 1;
                calls < 2
            },
        )
        .err()
        .expect("cancelled");
    assert!(matches!(e, MlError::Cancelled), "{e}");
}

/// Layers recomputed in the backward pass (a batch over the activation budget) train the
/// same model as layers whose activations are kept; a memory budget sets that budget.
#[test]
fn recomputing_layers_in_the_backward_pass_trains_the_same_model() {
    let dir = tempfile::tempdir().expect("tmp");
    tiny_bert(dir.path(), 6);
    let reader = Reader::load(dir.path(), Section::Both).expect("reader");
    let (x, t) = reports(&reader, 24, 0);
    let (xv, tv) = reports(&reader, 8, 1);
    let cfg = super::config_of(&settings(dir.path(), Unfreeze::All, 2, 1e-2)).expect("cfg");
    let fit = |budget: usize| {
        let tuner = super::tuner::TextTuner::build(&cfg, &t, &Device::Cpu)
            .expect("tuner")
            .with_budget(budget);
        let recomputed = tuner.recomputed();
        let fitted = tuner
            .fit(
                Part { x: &x, targets: &t },
                Part {
                    x: &xv,
                    targets: &tv,
                },
                reader.dim(),
                &cfg,
                &mut |_| true,
            )
            .expect("fit");
        (
            fitted.model.predict(&xv).expect("predict"),
            recomputed.delivered(),
        )
    };
    let mut small = settings(dir.path(), Unfreeze::All, 2, 1e-2);
    small.tune.memory_mb = 1;
    let tuner = |s: &Settings| {
        let cfg = super::config_of(s).expect("cfg");
        super::tuner::TextTuner::build(&cfg, &t, &Device::Cpu).expect("tuner")
    };
    assert_eq!(
        tuner(&small).budget(),
        0,
        "1 MiB holds no more than the weights"
    );
    assert_eq!(
        tuner(&settings(dir.path(), Unfreeze::All, 2, 1e-2)).budget(),
        1 << 30
    );
    let (kept, none) = fit(usize::MAX);
    let (again, delivered) = fit(0);
    assert_eq!(none, 0, "under the budget nothing is recomputed");
    assert!(
        delivered > 0,
        "over it, the layers above the first are recomputed"
    );
    let diff = kept
        .iter()
        .zip(&again)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-4, "predictions differ by {diff}");
}
