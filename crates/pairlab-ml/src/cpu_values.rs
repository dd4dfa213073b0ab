//! The f32 values behind a contiguous CPU tensor or custom-op argument, borrowed without a
//! copy: what every hand-written CPU op here (convolution, batch norm, layer norm, softmax,
//! the `cnn`'s step) reads its inputs with.

use candle_core::{CpuStorage, Layout, Result, Storage, Tensor, bail};

/// A custom op's argument as a slice (f32, contiguous).
pub(crate) fn values<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("this op runs in f32");
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("this op needs a contiguous input"),
    }
}

/// Runs `f` on a contiguous f32 CPU tensor's values.
pub(crate) fn read<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) => Ok(f(&v[a..b])),
        _ => bail!("this op runs on contiguous f32 CPU values"),
    }
}
