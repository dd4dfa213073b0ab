//! Arguments of the library actions the UI offers beside the command line: making a
//! split, pre-labelling, adding a model.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::splits::{self, SplitOptions};

/// Makes (or remakes, unless frozen) a named split of every present pair, as
/// `pairlab split` does.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct SplitArgs {
    pub name: String,
    /// `patient` (default: no patient in two parts), `random` or `stratified`.
    #[serde(default)]
    #[ts(optional, as = "Option<String>")]
    pub strategy: Option<String>,
    /// Comma-separated ratios (default `0.8,0.1,0.1`).
    #[serde(default)]
    #[ts(optional, as = "Option<String>")]
    pub ratios: Option<String>,
    /// Comma-separated part names (default train,val,test for three ratios, train,test
    /// for two).
    #[serde(default)]
    #[ts(optional, as = "Option<String>")]
    pub parts: Option<String>,
    #[serde(default)]
    #[ts(optional, as = "Option<u64>")]
    pub seed: Option<u64>,
    /// Stratify by a label of this schema (with `class` for a multi-label schema).
    #[serde(default)]
    #[ts(optional, as = "Option<String>")]
    pub schema: Option<String>,
    #[serde(default)]
    #[ts(optional, as = "Option<String>")]
    pub class: Option<String>,
    /// Freeze the split so that it can never be remade.
    #[serde(default)]
    #[ts(optional, as = "Option<bool>")]
    pub freeze: Option<bool>,
}

impl SplitArgs {
    /// The split's options, or an error naming the field that is wrong.
    pub fn options(&self) -> Result<SplitOptions> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(Error::field("name", "a split needs a name"));
        }
        let strategy = splits::parse_strategy(self.strategy.as_deref().unwrap_or("patient"))
            .map_err(|e| Error::field("strategy", e.to_string()))?;
        let ratios = splits::parse_ratios(self.ratios.as_deref().unwrap_or("0.8,0.1,0.1"))
            .map_err(|e| Error::field("ratios", e.to_string()))?;
        let names: Vec<String> = match self.parts.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(p) => p.split(',').map(|s| s.trim().to_owned()).collect(),
            None => splits::default_parts(ratios.len()),
        };
        if names.len() != ratios.len() || names.iter().any(String::is_empty) {
            return Err(Error::field(
                "parts",
                format!(
                    "{} part names for {} ratios",
                    names.iter().filter(|n| !n.is_empty()).count(),
                    ratios.len()
                ),
            ));
        }
        Ok(SplitOptions {
            name: name.to_owned(),
            strategy,
            parts: names.into_iter().zip(ratios).collect(),
            seed: self.seed.unwrap_or(0),
            stratify: self.schema.clone().map(|s| (s, self.class.clone())),
            freeze: self.freeze.unwrap_or(false),
        })
    }
}

/// Pre-labels every pair of a schema: from the reports with the rule-based labeler
/// (`reports`), zero-shot from a CLIP model (`zero-shot`), or from an image classifier's
/// own outputs mapped onto the schema's classes (`model`, a torchxrayvision DenseNet).
/// Human labels are never touched.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct PrelabelArgs {
    pub schema: String,
    /// `reports`, `zero-shot` or `model`.
    pub from: String,
    /// The model for `zero-shot` and `model`.
    #[serde(default)]
    #[ts(optional, as = "Option<String>")]
    pub model: Option<String>,
}

impl PrelabelArgs {
    /// Checks the combination before a job starts.
    pub fn check(&self) -> Result<()> {
        match (self.from.as_str(), self.model.as_deref()) {
            ("reports", _) => Ok(()),
            ("zero-shot" | "model", Some(m)) if !m.trim().is_empty() => Ok(()),
            ("zero-shot" | "model", _) => Err(Error::field(
                "model",
                format!("pre-labelling from {} needs a model", self.from),
            )),
            (other, _) => Err(Error::field(
                "from",
                format!("{other:?}: use reports, zero-shot or model"),
            )),
        }
    }
}

/// Registers a model from a folder or file on the library's machine (or a hub id), as
/// `pairlab model add` does.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct AddModelArgs {
    /// An absolute path (a model folder, a `.pt`/`.pth`/`.safetensors` file) or a hub id.
    pub spec: String,
    #[serde(default)]
    #[ts(optional, as = "Option<String>")]
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(json: &str) -> Result<SplitOptions> {
        serde_json::from_str::<SplitArgs>(json)
            .map_err(|e| Error::Invalid(e.to_string()))?
            .options()
    }

    #[test]
    fn split_args_default_like_the_cli_and_name_the_wrong_field() -> Result<()> {
        let s = split(r#"{"name": "s"}"#)?;
        assert_eq!(s.strategy, splits::Strategy::Patient);
        assert_eq!(
            s.parts,
            vec![
                ("train".to_owned(), 0.8),
                ("val".to_owned(), 0.1),
                ("test".to_owned(), 0.1)
            ]
        );
        let s = split(r#"{"name": "s", "ratios": "3,1", "strategy": "random", "seed": 4}"#)?;
        assert_eq!(s.parts[1], ("test".to_owned(), 1.0));
        assert_eq!((s.seed, s.strategy), (4, splits::Strategy::Random));
        for (bad, field) in [
            (r#"{"name": " "}"#, "name"),
            (r#"{"name": "s", "strategy": "alphabetical"}"#, "strategy"),
            (r#"{"name": "s", "ratios": "0.5,x"}"#, "ratios"),
            (r#"{"name": "s", "parts": "a,b"}"#, "parts"),
        ] {
            match split(bad) {
                Err(Error::InvalidField { field: f, .. }) => assert_eq!(f, field, "{bad}"),
                other => panic!("{bad}: {:?}", other.map(|_| ())),
            }
        }
        Ok(())
    }

    #[test]
    fn prelabel_args_need_a_model_except_for_reports() {
        let args = |from: &str, model: Option<&str>| PrelabelArgs {
            schema: "chexpert".into(),
            from: from.into(),
            model: model.map(str::to_owned),
        };
        assert!(args("reports", None).check().is_ok());
        assert!(args("zero-shot", Some("clip")).check().is_ok());
        assert!(args("zero-shot", None).check().is_err());
        assert!(args("model", Some(" ")).check().is_err());
        assert!(args("dreams", None).check().is_err());
    }
}

/// Searches a split for likely label errors, as `pairlab label-issues` does: `train` says
/// how each fold's run trains (its `split` is the split searched).
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct LabelIssueArgs {
    pub train: super::requests::TrainArgs,
    /// Patient-grouped folds (default 5).
    #[serde(default)]
    #[ts(optional)]
    pub folds: Option<usize>,
    /// Cleanlab's filter: `prune_by_noise_rate` (default), `prune_by_class`, `both`,
    /// `confident_learning` or `predicted_neq_given`.
    #[serde(default)]
    #[ts(optional)]
    pub filter: Option<String>,
    /// `self_confidence` (default) or `normalized_margin`.
    #[serde(default)]
    #[ts(optional)]
    pub rank_by: Option<crate::label_issues::RankBy>,
}

impl LabelIssueArgs {
    pub fn options(self) -> Result<crate::label_issues::IssueOptions> {
        Ok(crate::label_issues::IssueOptions {
            filter: crate::label_issues::parse_filter(
                self.filter.as_deref().unwrap_or("prune_by_noise_rate"),
            )?,
            folds: self.folds.unwrap_or(crate::label_issues::DEFAULT_FOLDS),
            rank_by: self.rank_by.unwrap_or_default(),
            train: self.train.options()?,
        })
    }
}

/// Which of a result's issues to send: at most `limit` (all without one), only those
/// not yet reviewed with `open`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct IssueListArgs {
    #[serde(default)]
    #[ts(optional)]
    pub limit: Option<u64>,
    #[serde(default)]
    #[ts(optional, as = "Option<bool>")]
    pub open: bool,
}

impl IssueListArgs {
    pub fn reading(&self) -> crate::label_issues::Reading {
        crate::label_issues::Reading {
            limit: self.limit,
            open_only: self.open,
        }
    }
}

/// A reviewer's act on one flagged row of label-issue search `id`: `accept` the
/// suggestion, `keep` the given label, or `open` it again.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ResolveIssueArgs {
    pub pair: i64,
    pub class: String,
    pub outcome: crate::label_issues::Outcome,
    /// Who decides (the signed-in user on a server with accounts).
    #[serde(default)]
    #[ts(optional, as = "Option<String>")]
    pub annotator: String,
}

/// Agreement of a schema's annotators, with at most `limit` disagreements (500 unless told).
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct AgreementArgs {
    #[serde(default = "chexpert")]
    #[ts(optional, as = "Option<String>")]
    pub schema: String,
    #[serde(default)]
    #[ts(optional)]
    pub limit: Option<usize>,
    /// Only the disagreements no reviewer has decided (the review queue).
    #[serde(default)]
    #[ts(optional, as = "Option<bool>")]
    pub open: bool,
}

/// A reviewer's decision on a disagreement between annotators: `value` ("1", "0", "-1";
/// for a multi-class schema the class) becomes the shared label; without it the
/// disagreement opens again (the review queue's undo).
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ResolveDisagreementArgs {
    #[serde(default = "chexpert")]
    #[ts(optional, as = "Option<String>")]
    pub schema: String,
    pub pair: i64,
    /// The class (left out for a multi-class schema).
    #[serde(default)]
    #[ts(optional)]
    pub class: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub value: Option<String>,
    /// Who decides (the signed-in user on a server with accounts).
    #[serde(default)]
    #[ts(optional, as = "Option<String>")]
    pub annotator: String,
}

impl ResolveDisagreementArgs {
    pub fn decision<'a>(&'a self, reviewer: &'a str) -> crate::labels::adjudication::Decision<'a> {
        crate::labels::adjudication::Decision {
            schema: &self.schema,
            pair: self.pair,
            class: self.class.as_deref(),
            value: self.value.as_deref(),
            reviewer,
        }
    }
}

fn chexpert() -> String {
    "chexpert".into()
}

/// Tags pairs by hand (a map's selection).
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct TagPairsArgs {
    pub name: String,
    pub pairs: Vec<i64>,
}

/// How many pairs got a tag.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct Tagged {
    pub name: String,
    pub pairs: u64,
}
