//! Models registered in the library: a Hugging Face-layout folder (CLIP, BERT), an image
//! classifier's checkpoint (a timm folder, a torchvision or torchxrayvision file) given by
//! path, or a hub id resolved through the local Hugging Face cache (downloaded first when
//! online). The files stay where they are; the library records where and what they are.

use std::path::{Path, PathBuf};
use ts_rs::TS;

use pairlab_ml::{Encoder, ModelInfo};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Error, Result};

/// A registered model.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct ModelRecord {
    pub id: i64,
    pub name: String,
    /// `clip`, `bert`, `resnet` or `densenet`.
    pub family: String,
    pub path: String,
    /// `dir`, `file` or `hub:<id>`.
    pub source: String,
    pub dim: usize,
    pub images: bool,
    pub texts: bool,
    pub fingerprint: String,
    pub added_at: String,
    /// What the files are, as detected: `timm (safetensors)`, `torchxrayvision (PyTorch
    /// checkpoint (pre-1.6 format))`, `Hugging Face CLIP (safetensors)`, …
    pub format: String,
    /// The network of an image classifier (`resnet50`, `densenet121`); empty otherwise.
    pub arch: String,
    /// The training run a fine-tuned model was registered from.
    pub from_run: Option<i64>,
}

/// What identifies a weight file's version: its name and its whole content (two fine-tuned
/// runs can differ only deep inside their weights; blake3 reads about 1 GB/s).
fn hash_file(h: &mut blake3::Hasher, p: &Path) -> Result<()> {
    h.update(
        p.file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default(),
    );
    let mut f = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
    std::io::copy(&mut f, h).map_err(|e| Error::io(p, e))?;
    Ok(())
}

/// The files whose content identifies a model version (the weights, the full config); a
/// checkpoint file by itself.
pub fn fingerprint(dir: &Path) -> Result<String> {
    let mut h = blake3::Hasher::new();
    if dir.is_file() {
        hash_file(&mut h, dir)?;
        return Ok(h.finalize().to_hex()[..16].to_string());
    }
    for name in ["config.json", "tokenizer.json", "preprocessor_config.json"] {
        let p = dir.join(name);
        if p.is_file() {
            let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
            h.update(name.as_bytes());
            h.update(&bytes);
        }
    }
    let mut weights: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| ["safetensors", "bin", "pt", "pth"].iter().any(|w| x == *w))
        })
        .collect();
    weights.sort();
    for p in weights {
        hash_file(&mut h, &p)?;
    }
    Ok(h.finalize().to_hex()[..16].to_string())
}

/// A hub model's files: what every layout has, and what some have (CLIP and BERT need their
/// tokenizer, timm image classifiers have none).
const HUB_FILES: [&str; 2] = ["config.json", "model.safetensors"];
const HUB_OPTIONAL: [&str; 3] = [
    "tokenizer.json",
    "preprocessor_config.json",
    "sentence_bert_config.json",
];

fn hub_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

/// The folder of a hub model in the local Hugging Face cache; downloaded first when it is
/// not there and the hub is reachable (and `HF_HUB_OFFLINE` is not set).
pub fn resolve_hub(id: &str) -> Result<PathBuf> {
    let cache = hf_hub::Cache::from_env();
    let repo = cache.model(id.to_string());
    let cached: Option<Vec<PathBuf>> = HUB_FILES.iter().map(|f| repo.get(f)).collect();
    if let Some(files) = cached {
        return folder_of(&files, id);
    }
    let where_ = cache.path().display().to_string();
    if hub_offline() {
        return Err(Error::NotFound(format!(
            "model {id} is not in the local Hugging Face cache ({where_}) and HF_HUB_OFFLINE is set; \
             download it on a connected machine or pass the model's folder instead"
        )));
    }
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|e| Error::ModelSetup(format!("Hugging Face hub: {e}")))?;
    let remote = api.model(id.to_string());
    let mut files = Vec::new();
    for f in HUB_FILES {
        files.push(remote.get(f).map_err(|e| {
            Error::NotFound(format!(
                "model {id} is not in the local Hugging Face cache ({where_}) and {f} could not be \
                 downloaded: {e}"
            ))
        })?);
    }
    for f in HUB_OPTIONAL {
        // Optional files: a model without them is fine.
        let _ = remote.get(f);
    }
    folder_of(&files, id)
}

fn folder_of(files: &[PathBuf], id: &str) -> Result<PathBuf> {
    let dir = files[0].parent().map(Path::to_path_buf);
    match dir {
        Some(d) if files.iter().all(|f| f.parent() == Some(d.as_path())) => Ok(d),
        _ => Err(Error::ModelSetup(format!(
            "model {id}: cached files are not in one snapshot folder"
        ))),
    }
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<ModelRecord> {
    Ok(ModelRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        family: r.get(2)?,
        path: r.get(3)?,
        source: r.get(4)?,
        dim: r.get::<_, i64>(5)? as usize,
        images: r.get(6)?,
        texts: r.get(7)?,
        fingerprint: r.get(8)?,
        added_at: r.get(9)?,
        format: r.get(10)?,
        arch: r.get(11)?,
        from_run: r.get(12)?,
    })
}

const COLUMNS: &str = "id, name, family, path, source, dim, images, texts, fingerprint, added_at, format, arch, from_run";

/// Registers a model folder, checkpoint file or hub id under `name` (default: the folder's
/// or id's last part, a file's name without its extension). The model is loaded once to
/// prove that weights, config and tokenizer agree. Adding again under the same name
/// replaces the entry (its embeddings are dropped when the files changed).
pub fn add(conn: &Connection, spec: &str, name: Option<&str>) -> Result<(ModelRecord, ModelInfo)> {
    add_from(conn, spec, name, None)
}

/// [`add`], remembering the run a fine-tuned model came from.
pub(crate) fn add_from(
    conn: &Connection,
    spec: &str,
    name: Option<&str>,
    from_run: Option<i64>,
) -> Result<(ModelRecord, ModelInfo)> {
    let as_path = Path::new(spec);
    let (dir, source) = if as_path.exists() {
        let abs = std::fs::canonicalize(as_path).map_err(|e| Error::io(as_path, e))?;
        let source = if abs.is_file() { "file" } else { "dir" };
        (abs, source.to_string())
    } else if looks_like_hub_id(spec) {
        (resolve_hub(spec)?, format!("hub:{spec}"))
    } else {
        return Err(Error::NotFound(format!(
            "{spec}: no such folder, and not a hub id of the form owner/name"
        )));
    };
    let name = match name {
        Some(n) => n.to_string(),
        None if dir.is_file() => dir
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| spec.to_string()),
        None => spec
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(spec)
            .to_string(),
    };
    if name.trim().is_empty() || name.contains(char::is_whitespace) {
        return Err(Error::Invalid(format!(
            "model name {name:?}: use a name without spaces"
        )));
    }
    let encoder = Encoder::load(&dir)?;
    let info = encoder.info().clone();
    let fp = fingerprint(&dir)?;
    let path = dir.to_string_lossy().into_owned();
    let old: Option<(i64, String)> = conn
        .query_row(
            "SELECT id, fingerprint FROM models WHERE name = ?1",
            [&name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    // Vectors and scores of a model whose files changed no longer describe it.
    if let Some((id, old_fp)) = old
        && old_fp != fp
    {
        conn.execute("DELETE FROM embeddings WHERE model_id = ?1", [id])?;
        conn.execute("DELETE FROM embedding_errors WHERE model_id = ?1", [id])?;
        conn.execute("DELETE FROM pair_scores WHERE model_id = ?1", [id])?;
    }
    conn.execute(
        "INSERT INTO models (name, family, path, source, dim, images, texts, fingerprint,
                            format, arch, from_run)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (name) DO UPDATE SET family = excluded.family, path = excluded.path,
             source = excluded.source, dim = excluded.dim, images = excluded.images,
             texts = excluded.texts, fingerprint = excluded.fingerprint,
             format = excluded.format, arch = excluded.arch, from_run = excluded.from_run",
        params![
            name,
            info.family.as_str(),
            path,
            source,
            info.dim as i64,
            info.images,
            info.texts,
            fp,
            info.format,
            info.arch,
            from_run
        ],
    )?;
    Ok((get(conn, &name)?, info))
}

/// Registers the network a finished `finetune` run saved (its checkpoint is a timm-layout
/// folder) under `name` (default `run-<id>`), remembering the run.
pub fn add_from_run(
    conn: &Connection,
    run_id: i64,
    name: Option<&str>,
) -> Result<(ModelRecord, ModelInfo)> {
    let (trainer, status, dir): (String, String, Option<String>) = conn
        .query_row(
            "SELECT trainer, status, dir FROM runs WHERE id = ?1",
            [run_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("run {run_id}")))?;
    if trainer != "finetune" {
        return Err(Error::field(
            "run",
            format!(
                "run {run_id} trained a {trainer}, which is no image model; only finetune runs register as models"
            ),
        ));
    }
    let dir = match (status.as_str(), dir) {
        ("done", Some(d)) => d,
        _ => {
            return Err(Error::Conflict(format!(
                "run {run_id} is {status}: only a finished run has a network to register"
            )));
        }
    };
    let name = match name {
        Some(n) => n.to_string(),
        None => {
            // The default name never replaces another model.
            let default = format!("run-{run_id}");
            if let Ok(existing) = get(conn, &default)
                && existing.from_run != Some(run_id)
            {
                return Err(Error::Conflict(format!(
                    "a model named {default} exists and is not run {run_id}'s: give --name"
                )));
            }
            default
        }
    };
    add_from(conn, &dir, Some(&name), Some(run_id))
}

fn looks_like_hub_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

pub fn list(conn: &Connection) -> Result<Vec<ModelRecord>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM models ORDER BY name"))?;
    let rows = stmt.query_map([], row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn get(conn: &Connection, name: &str) -> Result<ModelRecord> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM models WHERE name = ?1"),
        [name],
        row,
    )
    .optional()?
    .ok_or_else(|| {
        Error::NotFound(format!(
            "model {name:?} (add it with `pairlab model add PATH|HUB_ID`)"
        ))
    })
}

/// A registered model by its id.
pub fn get_by_id(conn: &Connection, id: i64) -> Result<ModelRecord> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM models WHERE id = ?1"),
        [id],
        row,
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("model {id}")))
}

/// Loads a registered model, refusing when its files changed since it was added (its
/// stored embeddings would no longer match).
pub fn load(conn: &Connection, name: &str) -> Result<(ModelRecord, Encoder)> {
    let rec = checked(conn, name)?;
    let enc = Encoder::load(Path::new(&rec.path))?;
    Ok((rec, enc))
}

/// A registered model whose files are still there and unchanged since it was added.
pub fn checked(conn: &Connection, name: &str) -> Result<ModelRecord> {
    let rec = get(conn, name)?;
    let dir = PathBuf::from(&rec.path);
    if !dir.exists() {
        return Err(Error::NotFound(format!(
            "model {name}: its files at {} are gone",
            dir.display()
        )));
    }
    let fp = fingerprint(&dir)?;
    if fp != rec.fingerprint {
        return Err(Error::Invalid(format!(
            "model {name}: its files changed since it was added; run `pairlab model add {} --name {name}` again (its embeddings will be recomputed)",
            rec.path
        )));
    }
    Ok(rec)
}
