//! Label schemas: a named set of classes and a kind (multi-label: each class 1 / 0 / -1 /
//! blank; multi-class: one class per sample). The built-in `chexpert` schema ships in
//! `assets/schemas/`; users add their own from TOML files.

use std::collections::BTreeMap;
use ts_rs::TS;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const CHEXPERT_TOML: &str = include_str!("../../../../assets/schemas/chexpert.toml");

/// Multi-label (each class 1 / 0 / -1 / blank on its own) or multi-class (one class per
/// sample).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaKind {
    MultiLabel,
    MultiClass,
}

impl SchemaKind {
    /// The name as stored, written in schema files and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaKind::MultiLabel => "multi-label",
            SchemaKind::MultiClass => "multi-class",
        }
    }

    /// The kind a stored or typed name means.
    pub fn parse(s: &str) -> Result<SchemaKind> {
        match s {
            "multi-label" => Ok(SchemaKind::MultiLabel),
            "multi-class" => Ok(SchemaKind::MultiClass),
            other => Err(Error::field(
                "kind",
                format!("schema kind {other:?}: use multi-label or multi-class"),
            )),
        }
    }
}

/// A schema as written in a TOML file: `name`, `kind`, `classes`, and optionally a
/// `[labeler]` table with report rules for its classes (the format of
/// `assets/labeler/chexpert.toml`). Unknown keys are errors: a misspelt `clases` must not
/// leave a schema silently without what it meant to say.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SchemaDef {
    pub name: String,
    pub kind: SchemaKind,
    pub classes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labeler: Option<toml::Table>,
    /// Zero-shot prompts per class (`[prompts]`); classes without one get defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts: Option<BTreeMap<String, Prompt>>,
}

/// A class's zero-shot prompt pair.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    pub positive: String,
    pub negative: String,
}

impl Prompt {
    /// "<class>" / "no <class>" in lower case, as CheXzero words them.
    pub fn default_for(class: &str) -> Prompt {
        let c = class.to_lowercase();
        Prompt {
            positive: c.clone(),
            negative: format!("no {c}"),
        }
    }
}

impl SchemaDef {
    pub fn from_toml(text: &str) -> Result<SchemaDef> {
        let def: SchemaDef =
            toml::from_str(text).map_err(|e| Error::Invalid(format!("schema file: {e}")))?;
        def.validate()?;
        Ok(def)
    }

    fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::Invalid("schema file: `name` is empty".into()));
        }
        if self.classes.is_empty() {
            return Err(Error::Invalid(format!("schema {}: no classes", self.name)));
        }
        if let Some(rules) = self.labeler_rules() {
            let labeler = crate::report_labeler::Labeler::from_toml(&rules).map_err(|e| {
                Error::Invalid(format!("schema {}: [labeler] rules: {e}", self.name))
            })?;
            if let Some(c) = labeler.classes().iter().find(|c| !self.classes.contains(c)) {
                return Err(Error::Invalid(format!(
                    "schema {}: the [labeler] rules name class {c:?}, which is not in `classes`",
                    self.name
                )));
            }
        }
        for (class, p) in self.prompts.iter().flatten() {
            if !self.classes.contains(class) {
                return Err(Error::Invalid(format!(
                    "schema {}: [prompts] names class {class:?}, which is not in `classes`",
                    self.name
                )));
            }
            if p.positive.trim().is_empty() || p.negative.trim().is_empty() {
                return Err(Error::Invalid(format!(
                    "schema {}: class {class:?} has an empty prompt",
                    self.name
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        if self.name.chars().any(char::is_control) || self.name.chars().count() > 64 {
            return Err(Error::Invalid(format!(
                "schema {:?}: a name has at most 64 characters and no control characters",
                self.name
            )));
        }
        for c in &self.classes {
            if c.trim().is_empty() {
                return Err(Error::Invalid(format!(
                    "schema {}: an empty class name",
                    self.name
                )));
            }
            if c.chars().any(char::is_control) || c.chars().count() > 128 {
                return Err(Error::Invalid(format!(
                    "schema {}: class {c:?}: a class name has at most 128 characters and no \
                     control characters (NUL, tabs, newlines)",
                    self.name
                )));
            }
            if !seen.insert(c.as_str()) {
                return Err(Error::Invalid(format!(
                    "schema {}: class {c:?} is listed twice",
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// The `[labeler]` table as TOML text, if the schema has one.
    pub fn labeler_rules(&self) -> Option<String> {
        self.labeler.as_ref().and_then(|t| toml::to_string(t).ok())
    }

    pub fn chexpert() -> Result<SchemaDef> {
        SchemaDef::from_toml(CHEXPERT_TOML)
    }
}

/// A schema stored in the library.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct Schema {
    pub id: i64,
    pub name: String,
    pub kind: SchemaKind,
    pub classes: Vec<String>,
}

/// Stores `def`; an existing schema of that name must have the same kind, and gains any
/// new classes (classes are never removed, so no label loses its class).
pub fn upsert(conn: &Connection, def: &SchemaDef) -> Result<Schema> {
    let existing: Option<(i64, String)> = conn
        .query_row(
            "SELECT id, kind FROM schemas WHERE name = ?1",
            [&def.name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let id = match existing {
        Some((_, kind)) if kind != def.kind.as_str() => {
            return Err(Error::Conflict(format!(
                "schema {} exists as {kind}, not {}",
                def.name,
                def.kind.as_str()
            )));
        }
        Some((id, _)) => id,
        None => conn.query_row(
            "INSERT INTO schemas (name, kind) VALUES (?1, ?2) RETURNING id",
            params![def.name, def.kind.as_str()],
            |r| r.get(0),
        )?,
    };
    if let Some(rules) = def.labeler_rules() {
        conn.execute(
            "UPDATE schemas SET labeler_rules = ?2 WHERE id = ?1",
            params![id, rules],
        )?;
    }
    if let Some(prompts) = &def.prompts {
        let json =
            serde_json::to_string(prompts).map_err(|e| Error::Invalid(format!("prompts: {e}")))?;
        conn.execute(
            "UPDATE schemas SET prompts = ?2 WHERE id = ?1",
            params![id, json],
        )?;
    }
    for class in &def.classes {
        conn.execute(
            "INSERT OR IGNORE INTO schema_classes (schema_id, position, name)
             VALUES (?1, (SELECT COALESCE(MAX(position) + 1, 0) FROM schema_classes WHERE schema_id = ?1), ?2)",
            params![id, class],
        )?;
    }
    get(conn, &def.name)
}

pub fn get(conn: &Connection, name: &str) -> Result<Schema> {
    let (id, kind): (i64, String) = conn
        .query_row(
            "SELECT id, kind FROM schemas WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("schema {name:?} (see `pairlab schema list`)")))?;
    let classes = conn
        .prepare("SELECT name FROM schema_classes WHERE schema_id = ?1 ORDER BY position")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Schema {
        id,
        name: name.to_owned(),
        kind: SchemaKind::parse(&kind)?,
        classes,
    })
}

/// The report rules stored with a schema, if any.
pub fn labeler_rules(conn: &Connection, name: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT labeler_rules FROM schemas WHERE name = ?1",
            [name],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten())
}

pub fn list(conn: &Connection) -> Result<Vec<Schema>> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM schemas ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    names.iter().map(|n| get(conn, n)).collect()
}

/// The zero-shot prompts of every class of a schema, in class order (stored ones, else
/// the defaults).
pub fn prompts(conn: &Connection, name: &str) -> Result<Vec<(String, Prompt)>> {
    let schema = get(conn, name)?;
    let stored: Option<String> = conn.query_row(
        "SELECT prompts FROM schemas WHERE id = ?1",
        [schema.id],
        |r| r.get(0),
    )?;
    let map: BTreeMap<String, Prompt> = match stored {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| Error::Invalid(format!("schema {name}: stored prompts: {e}")))?,
        None => BTreeMap::new(),
    };
    Ok(schema
        .classes
        .iter()
        .map(|c| {
            let p = map
                .get(c)
                .cloned()
                .unwrap_or_else(|| Prompt::default_for(c));
            (c.clone(), p)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_and_bad_files() {
        let c = SchemaDef::chexpert().expect("built-in schema parses");
        assert_eq!(c.classes.len(), 14);
        assert_eq!(c.kind, SchemaKind::MultiLabel);
        assert!(
            SchemaDef::from_toml("name = \"x\"\nkind = \"multi-class\"\nclasses = []").is_err()
        );
        assert!(SchemaDef::from_toml("name = \"x\"\nkind = \"other\"\nclasses = [\"a\"]").is_err());
        assert!(
            SchemaDef::from_toml("name = \"x\"\nkind = \"multi-class\"\nclasses = [\"a\", \"a\"]")
                .is_err()
        );
        let ok = SchemaDef::from_toml(
            "name = \"tb\"\nkind = \"multi-label\"\nclasses = [\"normal\", \"tb\"]\n[labeler]\n[[labeler.class]]\nname = \"tb\"\nmentions = [\"tuberculosis\"]\n[labeler.triggers.before]\nnegation = [\"no\"]\n",
        )
        .expect("a schema with its own report rules");
        assert_eq!(ok.classes, vec!["normal", "tb"]);
        let rules = ok.labeler_rules().expect("rules");
        let l = crate::report_labeler::Labeler::from_toml(&rules).expect("rules compile");
        assert_eq!(l.classes(), ["tb"]);
        // Rules naming a class the schema lacks, or broken rules, are refused.
        assert!(SchemaDef::from_toml("name = \"x\"\nkind = \"multi-label\"\nclasses = [\"a\"]\n[labeler]\n[[labeler.class]]\nname = \"b\"\nmentions = [\"b\"]\n").is_err());
        assert!(SchemaDef::from_toml("name = \"x\"\nkind = \"multi-label\"\nclasses = [\"a\"]\n[labeler]\n[[labeler.class]]\nname = \"a\"\nmentoins = [\"a\"]\n").is_err());
    }
}
