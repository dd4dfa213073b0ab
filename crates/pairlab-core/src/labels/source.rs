//! Where a label comes from, as a type: a person, the corpus it was indexed with, the
//! report labeler or a model. Stored and sent as its name (`human`, `import`,
//! `report-rules`, `model:<name>`; a run's predictions are `model:run-<id>`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A label's source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LabelSource {
    /// A person (`human`).
    Human,
    /// A label file or folder class that came with the corpus (`import`).
    Import,
    /// The rule-based report labeler (`report-rules`).
    ReportRules,
    /// A model's predictions: its whole name, `model:<name>`.
    Model(String),
    /// A name this version does not know (a newer Pairlab's), kept as it is.
    Other(String),
}

impl LabelSource {
    /// The source of a model's zero-shot labels.
    pub fn model(name: &str) -> LabelSource {
        LabelSource::Model(format!("model:{name}"))
    }

    /// The source of a training run's predictions.
    pub fn run(id: i64) -> LabelSource {
        LabelSource::Model(format!("model:run-{id}"))
    }

    /// The name as stored and sent.
    pub fn as_str(&self) -> &str {
        match self {
            LabelSource::Human => super::HUMAN,
            LabelSource::Import => super::IMPORT,
            LabelSource::ReportRules => crate::prelabel::REPORT_RULES,
            LabelSource::Model(s) | LabelSource::Other(s) => s,
        }
    }

    pub fn is_human(&self) -> bool {
        *self == LabelSource::Human
    }

    /// The source a stored name means.
    pub fn parse(s: &str) -> LabelSource {
        match s {
            super::HUMAN => LabelSource::Human,
            super::IMPORT => LabelSource::Import,
            crate::prelabel::REPORT_RULES => LabelSource::ReportRules,
            m if m.starts_with("model:") => LabelSource::Model(m.to_owned()),
            other => LabelSource::Other(other.to_owned()),
        }
    }
}

impl From<&str> for LabelSource {
    fn from(s: &str) -> LabelSource {
        LabelSource::parse(s)
    }
}

impl PartialEq<&str> for LabelSource {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for LabelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for LabelSource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LabelSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LabelSource, D::Error> {
        Ok(LabelSource::parse(&String::deserialize(d)?))
    }
}

impl rusqlite::types::FromSql for LabelSource {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        Ok(LabelSource::parse(v.as_str()?))
    }
}

impl rusqlite::types::ToSql for LabelSource {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "human",
            "import",
            "report-rules",
            "model:clip",
            "model:run-3",
            "x",
        ] {
            let s = LabelSource::parse(name);
            assert_eq!(s.as_str(), name);
            assert_eq!(serde_json::to_value(&s).expect("json"), name);
        }
        assert_eq!(LabelSource::run(3), LabelSource::parse("model:run-3"));
        assert_eq!(LabelSource::model("clip"), "model:clip");
        assert!(LabelSource::from("human").is_human());
        assert_eq!(LabelSource::parse("x"), LabelSource::Other("x".into()));
    }
}
