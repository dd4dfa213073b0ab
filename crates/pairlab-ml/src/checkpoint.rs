//! Weights read from the files people have: safetensors, and PyTorch's `torch.save` zip
//! archives (`.pt`, `.pth`, `.bin`) holding a state dict, a dict with a state dict inside
//! (`{"state_dict": …}`, `{"model": …}`), or a whole saved `nn.Module` (torchxrayvision's
//! checkpoints are). A pickle is never executed: its opcodes are read into plain values by
//! candle's reader and only tensors are taken out of them, by name.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::Path;

use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::{DType, Device, Tensor};

use crate::error::{MlError, Result};

/// Named tensors, as a `VarBuilder` takes them.
pub type Weights = HashMap<String, Tensor>;

/// The file formats a checkpoint can come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Safetensors,
    /// `torch.save`'s zip archive (torch 1.6 and later).
    TorchZip,
    /// `torch.save`'s older format: pickles then raw storages (torch before 1.6, and
    /// `_use_new_zipfile_serialization=False`); torchxrayvision's published checkpoints.
    TorchLegacy,
}

impl Format {
    pub fn describe(self) -> &'static str {
        match self {
            Format::Safetensors => "safetensors",
            Format::TorchZip => "PyTorch zip checkpoint",
            Format::TorchLegacy => "PyTorch checkpoint (pre-1.6 format)",
        }
    }
}

/// Says which format a file is in from its first bytes, or why it cannot be read.
pub fn sniff(path: &Path) -> Result<Format> {
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(path).map_err(|e| MlError::io(path, e))?;
    let n = f.read(&mut head).map_err(|e| MlError::io(path, e))?;
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") {
        return Ok(Format::TorchZip);
    }
    // safetensors: an 8-byte little-endian header length, then the JSON header.
    if head.len() >= 9 && head[8] == b'{' {
        return Ok(Format::Safetensors);
    }
    if head.starts_with(&LEGACY_MAGIC[..head.len().min(LEGACY_MAGIC.len())]) && head.len() >= 4 {
        return Ok(Format::TorchLegacy);
    }
    if head.first() == Some(&0x80) {
        return Err(MlError::bad(
            path,
            "a bare pickle, not a torch.save checkpoint: Pairlab reads tensors only and never \
             runs a pickle; save the weights with torch.save(model.state_dict()) or as \
             safetensors",
        ));
    }
    Err(MlError::bad(
        path,
        "neither safetensors nor a PyTorch checkpoint (torch.save zip archive)",
    ))
}

/// Every tensor of a checkpoint file, as f32 on `device` (integer buffers such as
/// `num_batches_tracked` are left out: no model reads them).
pub fn load(path: &Path, device: &Device) -> Result<Weights> {
    let raw = match sniff(path)? {
        Format::Safetensors => candle_core::safetensors::load(path, device)
            .map_err(|e| MlError::bad(path, format!("cannot be read as safetensors: {e}")))?,
        Format::TorchZip => guarded(path, || read_torch(path, device))?,
        Format::TorchLegacy => guarded(path, || read_legacy(path, device))?,
    };
    let mut out = HashMap::with_capacity(raw.len());
    for (name, t) in raw {
        if matches!(t.dtype(), DType::I64 | DType::U32 | DType::U8) {
            continue;
        }
        out.insert(name, t.to_dtype(DType::F32)?);
    }
    Ok(out)
}

/// The pickled object of a `torch.save` archive (`<prefix>/data.pkl`) and the prefix.
fn read_pickle(path: &Path) -> Result<(Object, String)> {
    let file = std::fs::File::open(path).map_err(|e| MlError::io(path, e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| MlError::bad(path, format!("not a readable zip archive: {e}")))?;
    let name = (0..zip.len())
        .filter_map(|i| {
            zip.name_for_index(i)
                .and_then(|n| n.ok())
                .map(|n| n.to_string())
        })
        .find(|n| n.ends_with("data.pkl"))
        .ok_or_else(|| {
            MlError::bad(
                path,
                "a zip archive without data.pkl: not a torch.save checkpoint",
            )
        })?;
    let prefix = name.trim_end_matches(".pkl").to_string();
    let entry = zip
        .by_name(&name)
        .map_err(|e| MlError::bad(path, format!("{name}: {e}")))?;
    let mut reader = BufReader::new(entry);
    let obj = pickle_at(&mut reader, path, &name)?;
    Ok((obj, prefix))
}

/// Where the state dict sits in a checkpoint that is a dict of other things too.
const NESTED: [&str; 5] = ["state_dict", "model_state_dict", "model", "net", "module"];

fn read_torch(path: &Path, device: &Device) -> Result<Weights> {
    let (obj, prefix) = read_pickle(path)?;
    let mut found = Vec::new();
    let what = collect(obj, "", Path::new(&prefix), &mut found, 0);
    if found.is_empty() {
        return Err(no_tensors(path, &what));
    }
    let file = std::fs::File::open(path).map_err(|e| MlError::io(path, e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| MlError::bad(path, format!("not a readable zip archive: {e}")))?;
    let mut out = HashMap::with_capacity(found.len());
    // Storages shared by several tensors (tied weights, views) are read once.
    let mut storages: HashMap<String, Tensor> = HashMap::new();
    for info in found {
        let t = read_tensor(&mut zip, &info, &mut storages, device)
            .map_err(|e| MlError::bad(path, format!("tensor {}: {e}", info.name)))?;
        out.insert(strip_wrappers(&info.name), t);
    }
    Ok(out)
}

/// The first pickle of a pre-1.6 `torch.save` file: protocol 2, the long 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC: [u8; 15] = *b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.";

fn pickle_at<R: std::io::BufRead>(r: &mut R, path: &Path, what: &str) -> Result<Object> {
    let mut stack = Stack::empty();
    stack
        .read_loop(r)
        .map_err(|e| MlError::bad(path, format!("{what} cannot be read as a pickle: {e}")))?;
    stack
        .finalize()
        .map_err(|e| MlError::bad(path, format!("{what}: {e}")))
}

/// Runs `f`, turning a panic inside candle's pickle decoding (a malformed tensor record
/// indexes past its arguments) into an error about the file.
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(MlError::bad(
            path,
            "a malformed PyTorch checkpoint (a tensor record that does not decode)",
        ))
    })
}

/// The storage keys and element types that a pickled value's persistent ids name.
fn storage_types(obj: &Object, out: &mut HashMap<String, DType>) {
    match obj {
        Object::PersistentLoad(id) => {
            if let Object::Tuple(parts) = id.as_ref()
                && let (Some(Object::Class { class_name, .. }), Some(Object::Unicode(key))) =
                    (parts.get(1), parts.get(2))
            {
                let dtype = match class_name.as_str() {
                    "FloatStorage" => Some(DType::F32),
                    "DoubleStorage" => Some(DType::F64),
                    "HalfStorage" => Some(DType::F16),
                    "BFloat16Storage" => Some(DType::BF16),
                    "ByteStorage" | "BoolStorage" | "CharStorage" => Some(DType::U8),
                    "LongStorage" => Some(DType::I64),
                    "IntStorage" => Some(DType::U32),
                    _ => None,
                };
                if let Some(d) = dtype {
                    out.insert(key.clone(), d);
                }
            }
        }
        Object::Tuple(v) | Object::List(v) => v.iter().for_each(|o| storage_types(o, out)),
        Object::Dict(kv) => kv.iter().for_each(|(k, v)| {
            storage_types(k, out);
            storage_types(v, out);
        }),
        Object::Reduce { callable, args } | Object::Build { callable, args } => {
            storage_types(callable, out);
            storage_types(args, out);
        }
        _ => {}
    }
}

/// A pre-1.6 file: the magic number, protocol and system pickles, the object, the list of
/// storage keys, then each storage as its element count (u64 LE) and raw bytes.
fn read_legacy(path: &Path, device: &Device) -> Result<Weights> {
    let file = std::fs::File::open(path).map_err(|e| MlError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| MlError::io(path, e))?.len();
    let mut r = BufReader::new(file);
    let mut magic = [0u8; LEGACY_MAGIC.len()];
    r.read_exact(&mut magic).map_err(|e| MlError::io(path, e))?;
    if magic != LEGACY_MAGIC {
        return Err(MlError::bad(
            path,
            "not a PyTorch checkpoint (bad magic number)",
        ));
    }
    pickle_at(&mut r, path, "the protocol version")?;
    pickle_at(&mut r, path, "the system information")?;
    let obj = pickle_at(&mut r, path, "the saved object")?;
    let keys = pickle_at(&mut r, path, "the storage list")?;
    let mut types = HashMap::new();
    storage_types(&obj, &mut types);
    let mut found = Vec::new();
    let what = collect(obj, "", Path::new(""), &mut found, 0);
    if found.is_empty() {
        return Err(no_tensors(path, &what));
    }
    let Object::List(keys) = keys else {
        return Err(MlError::bad(path, "the storage list is not a list"));
    };
    let mut storages: HashMap<String, Tensor> = HashMap::new();
    for key in keys {
        let Object::Unicode(key) = key else {
            return Err(MlError::bad(path, "a storage key is not a string"));
        };
        let dtype = *types
            .get(&key)
            .ok_or_else(|| MlError::bad(path, format!("storage {key} has an unknown type")))?;
        let mut len = [0u8; 8];
        r.read_exact(&mut len).map_err(|e| MlError::io(path, e))?;
        let bytes_len = usize::try_from(u64::from_le_bytes(len))
            .ok()
            .and_then(|n| n.checked_mul(dtype.size_in_bytes()))
            .filter(|n| *n as u64 <= file_len)
            .ok_or_else(|| {
                MlError::bad(
                    path,
                    format!("storage {key} declares more bytes than the file has"),
                )
            })?;
        // Read what is there rather than allocating what is declared.
        let mut bytes = Vec::new();
        (&mut r)
            .take(bytes_len as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| MlError::io(path, e))?;
        if bytes.len() != bytes_len {
            return Err(MlError::bad(path, format!("storage {key} is cut short")));
        }
        let n = bytes_len / dtype.size_in_bytes();
        storages.insert(key, Tensor::from_raw_buffer(&bytes, dtype, &[n], device)?);
    }
    let mut out = HashMap::with_capacity(found.len());
    for info in found {
        let key = info.path.rsplit('/').next().unwrap_or_default();
        let storage = storages.get(key).ok_or_else(|| {
            MlError::bad(
                path,
                format!("tensor {}: storage {key} is missing", info.name),
            )
        })?;
        let t = view(storage, &info, device)
            .map_err(|e| MlError::bad(path, format!("tensor {}: {e}", info.name)))?;
        out.insert(strip_wrappers(&info.name), t);
    }
    Ok(out)
}

fn no_tensors(path: &Path, what: &str) -> MlError {
    MlError::bad(
        path,
        format!(
            "holds no tensors ({what}); Pairlab reads state dicts and saved modules, and \
             never runs the code a pickle names"
        ),
    )
}

/// `module.` (from `nn.DataParallel`) and `_orig_mod.` (from `torch.compile`) prefixes,
/// which are not part of the network's own names.
fn strip_wrappers(name: &str) -> String {
    let mut s = name;
    loop {
        if let Some(rest) = s.strip_prefix("module.") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix("_orig_mod.") {
            s = rest;
        } else {
            return s.to_string();
        }
    }
}

/// Finds the tensors in a pickled value: a dict's tensor entries by key, a nested state
/// dict, or a saved module's parameters and buffers by their dotted names. Returns what the
/// value was, for the message when it held none.
fn collect(
    obj: Object,
    prefix: &str,
    dir: &Path,
    out: &mut Vec<TensorInfo>,
    depth: usize,
) -> String {
    if depth > 64 {
        return "nested too deeply".into();
    }
    match obj {
        Object::Dict(entries) => {
            let mut nested = Vec::new();
            let mut tensors = 0;
            for (k, v) in entries {
                let Object::Unicode(key) = k else { continue };
                let name = Object::Unicode(format!("{prefix}{key}"));
                match v.clone().into_tensor_info(name, dir) {
                    Ok(Some(info)) => {
                        out.push(info);
                        tensors += 1;
                    }
                    _ => nested.push((key, v)),
                }
            }
            if tensors == 0 {
                // A dict around the state dict: the first known key that holds tensors.
                for want in NESTED {
                    if let Some((_, v)) = nested.iter().find(|(k, _)| k == want) {
                        let before = out.len();
                        collect(v.clone(), prefix, dir, out, depth + 1);
                        if out.len() > before {
                            return "a dict".into();
                        }
                    }
                }
            }
            "a dict".into()
        }
        Object::Build { callable, args } => {
            let class = class_name(&callable);
            if let Object::Dict(state) = *args {
                collect_module(state, prefix, dir, out, depth);
            }
            format!("an object of class {class}")
        }
        Object::Reduce { callable, .. } => format!("an object of class {}", class_name(&callable)),
        Object::List(_) | Object::Tuple(_) => "a list".into(),
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

/// A saved `nn.Module`'s state: `_parameters` and `_buffers` (name → tensor or None) and
/// `_modules` (name → module), recursively.
fn collect_module(
    state: Vec<(Object, Object)>,
    prefix: &str,
    dir: &Path,
    out: &mut Vec<TensorInfo>,
    depth: usize,
) {
    for (k, v) in state {
        let Object::Unicode(key) = k else { continue };
        match key.as_str() {
            "_parameters" | "_buffers" => {
                if let Object::Dict(entries) = v {
                    for (name, t) in entries {
                        let Object::Unicode(name) = name else {
                            continue;
                        };
                        let full = Object::Unicode(format!("{prefix}{name}"));
                        if let Ok(Some(info)) = t.into_tensor_info(full, dir) {
                            out.push(info);
                        }
                    }
                }
            }
            "_modules" => {
                if let Object::Dict(children) = v {
                    for (name, child) in children {
                        let Object::Unicode(name) = name else {
                            continue;
                        };
                        collect(child, &format!("{prefix}{name}."), dir, out, depth + 1);
                    }
                }
            }
            // A plain tensor attribute (torchxrayvision's `op_threshs`).
            other if !other.starts_with('_') => {
                let full = Object::Unicode(format!("{prefix}{other}"));
                if let Ok(Some(info)) = v.into_tensor_info(full, dir) {
                    out.push(info);
                }
            }
            _ => {}
        }
    }
}

fn class_name(obj: &Object) -> String {
    match obj {
        Object::Class {
            module_name,
            class_name,
        } => format!("{module_name}.{class_name}"),
        Object::Reduce { callable, .. } | Object::Build { callable, .. } => class_name(callable),
        _ => "?".into(),
    }
}

/// One tensor's bytes from the archive, laid out as its strides say.
fn read_tensor<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    info: &TensorInfo,
    storages: &mut HashMap<String, Tensor>,
    device: &Device,
) -> Result<Tensor> {
    let storage = match storages.get(&info.path) {
        Some(s) if s.dtype() == info.dtype => s.clone(),
        _ => {
            let mut entry = zip.by_name(&info.path).map_err(|e| {
                MlError::Unsupported(format!("storage {} is missing: {e}", info.path))
            })?;
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| MlError::io(&info.path, e))?;
            let size = info.dtype.size_in_bytes();
            let s = Tensor::from_raw_buffer(&bytes, info.dtype, &[bytes.len() / size], device)?;
            storages.insert(info.path.clone(), s.clone());
            s
        }
    };
    // A copy, so that a small view does not keep a large shared storage alive.
    Ok(view(&storage, info, device)?.copy()?)
}

/// The tensor a storage's strided view names.
fn view(storage: &Tensor, info: &TensorInfo, device: &Device) -> Result<Tensor> {
    let size = info.dtype.size_in_bytes();
    let layout = &info.layout;
    let offset = layout.start_offset() / size;
    let dims = layout.dims();
    // The view must lie inside its storage: its last element's index is the offset plus
    // (d − 1)·stride over the dimensions.
    let available = storage.dim(0)?;
    let last = dims
        .iter()
        .zip(layout.stride())
        .try_fold(offset, |acc, (&d, &st)| {
            d.checked_sub(1)
                .and_then(|d1| d1.checked_mul(st))
                .and_then(|x| acc.checked_add(x))
        });
    let numel: usize = dims.iter().product();
    if numel > 0 && last.is_none_or(|l| l >= available) || numel > available.max(1) * 64 {
        return Err(MlError::Unsupported(format!(
            "a view of shape {dims:?} does not fit its storage of {available} values"
        )));
    }
    if dims.is_empty() {
        return Ok(storage.narrow(0, offset, 1)?.reshape(())?);
    }
    // Any strided view: gather the flat indices its strides name.
    if layout.is_contiguous() {
        return Ok(storage.narrow(0, offset, numel)?.reshape(dims)?);
    }
    let strides = layout.stride();
    let mut idx = Vec::with_capacity(numel);
    let mut pos = vec![0usize; dims.len()];
    for _ in 0..numel {
        let flat: usize = pos.iter().zip(strides).map(|(p, s)| p * s).sum();
        idx.push((offset + flat) as u32);
        for d in (0..dims.len()).rev() {
            pos[d] += 1;
            if pos[d] < dims[d] {
                break;
            }
            pos[d] = 0;
        }
    }
    let idx = Tensor::from_vec(idx, numel, device)?;
    Ok(storage.index_select(&idx, 0)?.reshape(dims)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_prefixes_are_dropped() {
        assert_eq!(
            strip_wrappers("module.features.conv0.weight"),
            "features.conv0.weight"
        );
        assert_eq!(strip_wrappers("_orig_mod.module.fc.bias"), "fc.bias");
        assert_eq!(strip_wrappers("fc.weight"), "fc.weight");
    }

    #[test]
    fn files_that_are_no_checkpoint_say_so() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("x.pt");
        std::fs::write(&p, b"hello world, not weights").expect("write");
        let e = sniff(&p).expect_err("text").to_string();
        assert!(e.contains("neither safetensors nor"), "{e}");
        std::fs::write(&p, LEGACY_MAGIC).expect("write");
        assert_eq!(sniff(&p).expect("legacy"), Format::TorchLegacy);
        let e = load(&p, &Device::Cpu).expect_err("cut short").to_string();
        assert!(e.contains("pickle"), "{e}");
        std::fs::write(&p, b"\x80\x04\x95\x05\x00.").expect("write");
        let e = sniff(&p).expect_err("bare pickle").to_string();
        assert!(e.contains("bare pickle"), "{e}");
        std::fs::write(&p, b"PK\x03\x04garbage").expect("write");
        let e = load(&p, &Device::Cpu).expect_err("zip").to_string();
        assert!(e.contains("zip"), "{e}");
    }
}
