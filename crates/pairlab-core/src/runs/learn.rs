//! The learned report labeler (CheXbert's lesson): a `text` run trained on human labels
//! where they exist and the report rules' labels elsewhere, human labels weighing more, so
//! that it improves with every correction. `pairlab labeler learn`; its run pre-labels
//! like any other (`prelabel model --run`) and is compared with the rules on a gold CSV by
//! `pairlab labeler eval --gold G --run ID`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use pairlab_ml::train::Targets;
use pairlab_ml::train::finetune::{Tune, Unfreeze};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::parts::Gathered;
use super::{LabelPolicy, RunSummary, Section, TextOptions, TrainOptions, Trainer, Uncertain};
use crate::error::{Error, Result};
use crate::labels::HUMAN;
use crate::progress::Progress;
use crate::splits::{SplitOptions, Strategy};

/// Label values per (pair, class).
type Labels = HashMap<(i64, String), i8>;

/// How much more a human label weighs than a rule label (its pair's row repeats).
pub const HUMAN_WEIGHT: usize = 3;

/// What `labeler learn` trains.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct LearnOptions {
    /// The schema whose labels it learns (`chexpert` for the built-in rules).
    pub schema: String,
    /// A registered BERT-family text model (default: the only one registered).
    #[serde(default)]
    #[ts(optional)]
    pub text_model: Option<String>,
    #[serde(default = "default_epochs")]
    #[ts(optional, as = "Option<usize>")]
    pub epochs: usize,
    /// `head`, a number of layers, or `all` (the default: CheXbert fine-tunes everything).
    #[serde(default)]
    #[ts(optional)]
    pub unfreeze: Option<String>,
    #[serde(default)]
    #[ts(optional, as = "Option<u64>")]
    pub seed: u64,
}

fn default_epochs() -> usize {
    4
}

/// Per (pair, class): the human label, else the report rules'; and the pairs that have a
/// human label of the schema.
pub(super) fn human_then_rules(
    conn: &Connection,
    schema_id: i64,
) -> Result<(Labels, HashSet<i64>)> {
    let mut stmt = conn.prepare(
        "SELECT pair_id, class, value, source FROM labels
         WHERE schema_id = ?1 AND source IN ('human', 'report-rules')
         ORDER BY pair_id, class, (source = 'human') DESC",
    )?;
    let mut out = HashMap::new();
    let mut humans = HashSet::new();
    let rows = stmt.query_map([schema_id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i8>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    for row in rows {
        let (pair, class, value, source) = row?;
        if source == HUMAN {
            humans.insert(pair);
        }
        out.entry((pair, class)).or_insert(value);
    }
    Ok((out, humans))
}

/// Repeats the training rows of pairs with a human label so that they count `weight`
/// times.
pub(super) fn weigh(data: &mut Gathered, humans: &HashSet<i64>, weight: usize, dim: usize) {
    let part = &mut data.train;
    let extra: Vec<usize> = (0..part.pairs.len())
        .filter(|&k| humans.contains(&part.pairs[k]))
        .collect();
    for _ in 1..weight.max(1) {
        for &k in &extra {
            part.x.extend_from_within(k * dim..(k + 1) * dim);
            part.pairs.push(part.pairs[k]);
            match &mut part.targets {
                Targets::MultiLabel { values, classes } => {
                    let c = *classes;
                    values.extend_from_within(k * c..(k + 1) * c);
                }
                Targets::MultiClass { values, .. } => values.push(values[k]),
            }
        }
    }
}

/// The trainer's config with the label policy recorded.
pub(super) fn with_policy(config: &str, weight: usize) -> Result<String> {
    let mut v: serde_json::Value =
        serde_json::from_str(config).map_err(|e| Error::Invalid(e.to_string()))?;
    v["labels"] = "human-then-report-rules".into();
    v["human_weight"] = weight.into();
    Ok(v.to_string())
}

/// The name of the split a schema's learned labeler trains on.
pub fn split_name(schema: &str) -> String {
    format!("labeler-{schema}")
}

/// Trains the learned report labeler of a schema: report-rules labels first where the
/// schema has none, the split `labeler-<schema>` (by patient, 90 % train, 10 % val; remade
/// each time unless frozen), then a `text` run on human-then-rules labels.
pub fn learn_labeler(
    conn: &mut Connection,
    library: &Path,
    opts: &LearnOptions,
    progress: &dyn Progress,
) -> Result<RunSummary> {
    let schema = crate::labels::schema::get(conn, &opts.schema)?;
    let text_model = match &opts.text_model {
        Some(n) => n.clone(),
        None => only_text_model(conn)?,
    };
    let rules: i64 = conn.query_row(
        "SELECT COUNT(*) FROM labels WHERE schema_id = ?1 AND source = 'report-rules'",
        [schema.id],
        |r| r.get(0),
    )?;
    if rules == 0 {
        let labeler = crate::Library::labeler_for_conn(conn, &opts.schema)?;
        crate::prelabel::reports(conn, &labeler, &opts.schema, progress)?;
    }
    let split = split_name(&opts.schema);
    let frozen: Option<bool> = conn
        .query_row("SELECT frozen FROM splits WHERE name = ?1", [&split], |r| {
            r.get(0)
        })
        .optional()?;
    if frozen != Some(true) {
        crate::splits::create(
            conn,
            &SplitOptions {
                name: split.clone(),
                strategy: Strategy::Patient,
                parts: vec![("train".into(), 0.9), ("val".into(), 0.1)],
                seed: opts.seed,
                stratify: None,
                freeze: false,
            },
        )?;
    }
    let unfreeze = match &opts.unfreeze {
        Some(u) => u.parse()?,
        None => Unfreeze::All,
    };
    let train = TrainOptions {
        schema: opts.schema.clone(),
        split,
        trainer: Trainer::Text,
        model: None,
        epochs: opts.epochs,
        // A head alone on frozen features learns at a head's rate (the `head` trainer's);
        // fine-tuning at the text trainer's (the encoder at 3 % of it).
        lr: if unfreeze == Unfreeze::Head {
            Trainer::Head.default_lr()
        } else {
            Trainer::Text.default_lr()
        },
        hidden: 0,
        size: 0,
        uncertain: Uncertain::Ignore,
        seed: opts.seed,
        tune: Tune {
            unfreeze,
            ..Default::default()
        },
        text: TextOptions {
            model: Some(text_model),
            section: Section::Both,
            ..Default::default()
        },
        labels: LabelPolicy::HumanThenRules {
            human_weight: HUMAN_WEIGHT,
        },
    };
    super::train(conn, library, &train, progress)
}

/// The registered BERT-family text model when there is exactly one.
fn only_text_model(conn: &Connection) -> Result<String> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM models WHERE family = 'bert' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    match names.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::field(
            "text_model",
            "no BERT-family text model is registered: add one with `pairlab model add PATH` \
             (e.g. all-MiniLM-L6-v2)",
        )),
        _ => Err(Error::field(
            "text_model",
            format!(
                "several text models are registered ({}): choose one with --text-model",
                names.join(", ")
            ),
        )),
    }
}

/// Where a schema's learned labeler stands: its last run and the human labels made since.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct LabelerStatus {
    pub schema: String,
    /// The last finished `labeler learn` run of the schema.
    pub last_run: Option<i64>,
    /// Human labels of the schema set (changes included) since that run started, or in all
    /// when there is none.
    pub human_changes_since: u64,
    /// Pairs with a human label of the schema.
    pub human_pairs: u64,
    /// The registered BERT-family text models.
    pub text_models: Vec<String>,
    /// Whether retraining is worth offering: a text model is there and at least
    /// [`RETRAIN_AFTER`] human changes were made since the last run.
    pub suggest: bool,
}

/// Human label changes after which retraining the labeler is offered.
pub const RETRAIN_AFTER: u64 = 25;

pub fn labeler_status(conn: &Connection, schema: &str) -> Result<LabelerStatus> {
    let s = crate::labels::schema::get(conn, schema)?;
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT r.id, r.created_at FROM runs r JOIN splits sp ON sp.id = r.split_id
             WHERE r.schema_id = ?1 AND sp.name = ?2 AND r.trainer = 'text' AND r.status = 'done'
             ORDER BY r.id DESC LIMIT 1",
            rusqlite::params![s.id, split_name(schema)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let since = last.as_ref().map_or("", |(_, at)| at.as_str());
    let human_changes_since: i64 = conn.query_row(
        "SELECT COUNT(*) FROM label_events WHERE schema_id = ?1 AND source = 'human' AND created_at >= ?2",
        rusqlite::params![s.id, since],
        |r| r.get(0),
    )?;
    let human_pairs: i64 = conn.query_row(
        "SELECT COUNT(DISTINCT pair_id) FROM labels WHERE schema_id = ?1 AND source = 'human'",
        [s.id],
        |r| r.get(0),
    )?;
    let text_models: Vec<String> = conn
        .prepare("SELECT name FROM models WHERE family = 'bert' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let human_changes_since = human_changes_since.max(0) as u64;
    Ok(LabelerStatus {
        schema: schema.to_string(),
        last_run: last.map(|(id, _)| id),
        human_changes_since,
        human_pairs: human_pairs.max(0) as u64,
        suggest: !text_models.is_empty() && human_changes_since >= RETRAIN_AFTER,
        text_models,
    })
}

/// A finished `text` run's labels of report texts: each text read as the run read its
/// reports (sections found as indexing finds them), 1 or 0 per class at the run's val
/// thresholds (multi-class: 1 for the most probable class); None for a text with nothing
/// in the run's section.
pub fn label_texts(conn: &Connection, run: i64, texts: &[String]) -> Result<Vec<Vec<Option<i8>>>> {
    let summary = super::get(conn, run)?;
    if summary.trainer != Trainer::Text.name() {
        return Err(Error::Invalid(format!(
            "run {run} is a {} run; labelling report texts needs a text run (pairlab labeler learn)",
            summary.trainer
        )));
    }
    let (dir, config): (Option<String>, String) =
        conn.query_row("SELECT dir, config FROM runs WHERE id = ?1", [run], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let dir = dir.ok_or_else(|| Error::Invalid(format!("run {run} has no checkpoint")))?;
    let section: Section = serde_json::from_str::<serde_json::Value>(&config)
        .ok()
        .and_then(|v| {
            v.get("text_section")
                .and_then(|s| s.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "both".into())
        .parse()?;
    let reader = pairlab_ml::train::text::Reader::load(Path::new(&dir), section)?;
    let model = super::load_model(conn, run)?;
    let thresholds = super::thresholds::val_thresholds(conn, run)?;
    let multi_class = super::eval::schema_of(conn, run)?.1 == crate::labels::SchemaKind::MultiClass;
    let c = summary.classes.len();
    let mut rows = Vec::new();
    let mut have = Vec::with_capacity(texts.len());
    for t in texts {
        let (findings, impression) = crate::ingest::report::sections(t);
        let row = reader.row(pairlab_ml::train::text::ReportText {
            text: t,
            findings: findings.as_deref(),
            impression: impression.as_deref(),
        })?;
        have.push(row.is_some());
        rows.extend(row.unwrap_or_default());
    }
    let probs = if rows.is_empty() {
        Vec::new()
    } else {
        model.predict(&rows)?
    };
    let mut out = Vec::with_capacity(texts.len());
    let mut k = 0;
    for has in have {
        if !has {
            out.push(vec![None; c]);
            continue;
        }
        let p = &probs[k * c..(k + 1) * c];
        k += 1;
        out.push(if multi_class {
            let best = (0..c).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
            (0..c).map(|i| Some(i8::from(i == best))).collect()
        } else {
            (0..c)
                .map(|i| Some(i8::from(p[i] >= thresholds[i])))
                .collect()
        });
    }
    Ok(out)
}
