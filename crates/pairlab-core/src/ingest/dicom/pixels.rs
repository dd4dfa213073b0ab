//! Stored pixel samples and their mapping to display-ready 8-bit values:
//! sample layout (BitsStored, HighBit, sign), modality rescale, VOI window
//! (or min..max range) through a lookup table or per-pixel arithmetic.

use std::borrow::Cow;

use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

use super::{DicomError, first_f64, get_string};

/// Raw pixel data as held by the parser: bytes (OB, or decoder output, little
/// endian) or 16-bit words (OW, already in native order).
pub(super) enum Samples<'a> {
    Bytes(Cow<'a, [u8]>),
    Words(Cow<'a, [u16]>),
}

impl Samples<'_> {
    fn byte_len(&self) -> usize {
        match self {
            Samples::Bytes(b) => b.len(),
            Samples::Words(w) => w.len() * 2,
        }
    }

    pub(super) fn check_len(&self, samples: usize, bits_allocated: u16) -> Result<(), DicomError> {
        let needed = samples * usize::from(bits_allocated / 8);
        let have = self.byte_len();
        if have < needed {
            return Err(DicomError::Pixels(format!(
                "pixel data too short: {have} bytes, the first frame needs {needed}"
            )));
        }
        Ok(())
    }

    /// Byte `i` of the little-endian encoded pixel data.
    pub(super) fn byte(&self, i: usize) -> u8 {
        match self {
            Samples::Bytes(b) => b[i],
            Samples::Words(w) => w[i / 2].to_le_bytes()[i % 2],
        }
    }

    /// Sample `i` (0-based) as an unsigned raw cell of `bits_allocated` bits.
    fn raw(&self, i: usize, bits_allocated: u16) -> u32 {
        match (bits_allocated, self) {
            (8, _) => u32::from(self.byte(i)),
            (16, Samples::Words(w)) => u32::from(w[i]),
            (16, Samples::Bytes(b)) => u32::from(u16::from_le_bytes([b[2 * i], b[2 * i + 1]])),
            (_, Samples::Words(w)) => u32::from(w[2 * i]) | (u32::from(w[2 * i + 1]) << 16),
            (_, Samples::Bytes(b)) => {
                u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
            }
        }
    }
}

/// How stored values sit inside the allocated cells.
pub(super) struct SampleLayout {
    bits_allocated: u16,
    bits_stored: u16,
    shift: u16,
    signed: bool,
}

impl SampleLayout {
    pub(super) fn new(
        bits_allocated: u16,
        bits_stored: u16,
        high_bit: Option<u16>,
        signed: bool,
    ) -> Result<Self, DicomError> {
        if !matches!(bits_allocated, 8 | 16 | 32) {
            return Err(DicomError::Pixels(format!(
                "unsupported BitsAllocated {bits_allocated} (supported: 8, 16, 32)"
            )));
        }
        if bits_stored == 0 || bits_stored > bits_allocated {
            return Err(DicomError::Pixels(format!(
                "invalid BitsStored {bits_stored} for BitsAllocated {bits_allocated}"
            )));
        }
        // HighBit is normally BitsStored - 1; honour other valid positions,
        // ignore impossible ones.
        let shift = match high_bit {
            Some(hb) if hb < bits_allocated && hb + 1 >= bits_stored => hb + 1 - bits_stored,
            _ => 0,
        };
        Ok(SampleLayout {
            bits_allocated,
            bits_stored,
            shift,
            signed,
        })
    }

    /// The unsigned stored bits of a raw cell.
    fn mask(&self, raw: u64) -> u64 {
        (raw >> self.shift) & ((1u64 << self.bits_stored) - 1)
    }

    /// Interprets masked stored bits (two's complement when signed).
    fn to_signed(&self, v: u64) -> i64 {
        if self.signed && (v >> (self.bits_stored - 1)) & 1 == 1 {
            v as i64 - (1i64 << self.bits_stored)
        } else {
            v as i64
        }
    }

    fn stored(&self, samples: &Samples<'_>, i: usize) -> i64 {
        self.to_signed(self.mask(u64::from(samples.raw(i, self.bits_allocated))))
    }

    /// Masked stored bits of the first `n` cells when they fit 16 bits
    /// (the caller has checked that enough data is present).
    fn masked_cells_u16(&self, samples: &Samples<'_>, n: usize) -> Option<Vec<u16>> {
        if self.bits_stored > 16 {
            return None;
        }
        let shift = self.shift;
        let mask = ((1u32 << self.bits_stored) - 1) as u16;
        let cells = match (self.bits_allocated, samples) {
            (16, Samples::Words(w)) => w[..n].iter().map(|&r| (r >> shift) & mask).collect(),
            (16, Samples::Bytes(b)) => b[..2 * n]
                .chunks_exact(2)
                .map(|c| (u16::from_le_bytes([c[0], c[1]]) >> shift) & mask)
                .collect(),
            (8, Samples::Bytes(b)) => b[..n]
                .iter()
                .map(|&r| (u16::from(r) >> shift) & mask)
                .collect(),
            _ => (0..n)
                .map(|i| self.mask(u64::from(samples.raw(i, self.bits_allocated))) as u16)
                .collect(),
        };
        Some(cells)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum VoiFunction {
    Linear,
    LinearExact,
    Sigmoid,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    center: f64,
    width: f64,
    function: VoiFunction,
}

pub(super) fn map_monochrome(
    samples: &Samples<'_>,
    npix: usize,
    layout: &SampleLayout,
    rescale: (f64, f64),
    window: Option<Window>,
) -> Vec<u8> {
    match layout.masked_cells_u16(samples, npix) {
        Some(cells) => map_with_lut(&cells, layout, rescale, window),
        None => map_direct(samples, npix, layout, rescale, window),
    }
}

/// Up to 16 stored bits: map every possible stored value once through a
/// lookup table (fast even in unoptimised builds), then index it per pixel.
fn map_with_lut(
    cells: &[u16],
    layout: &SampleLayout,
    (slope, intercept): (f64, f64),
    window: Option<Window>,
) -> Vec<u8> {
    let size = 1usize << layout.bits_stored;
    let modality = |u: usize| layout.to_signed(u as u64) as f64 * slope + intercept;
    let mut seen = vec![false; size];
    for &u in cells {
        seen[usize::from(u)] = true;
    }
    let mut lut = vec![0u8; size];
    match window {
        Some(w) => {
            for (u, entry) in lut.iter_mut().enumerate() {
                if seen[u] {
                    *entry = apply_window(modality(u), &w);
                }
            }
        }
        None => {
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for u in (0..size).filter(|&u| seen[u]) {
                let m = modality(u);
                lo = lo.min(m);
                hi = hi.max(m);
            }
            let range = hi - lo;
            if !range.is_finite() || range <= 0.0 {
                // constant image (or degenerate values): no contrast to show
                return vec![0; cells.len()];
            }
            for (u, entry) in lut.iter_mut().enumerate() {
                if seen[u] {
                    *entry = to_u8((modality(u) - lo) / range * 255.0);
                }
            }
        }
    }
    cells.iter().map(|&u| lut[usize::from(u)]).collect()
}

/// General path (17..=32 stored bits): per-pixel arithmetic.
fn map_direct(
    samples: &Samples<'_>,
    npix: usize,
    layout: &SampleLayout,
    (slope, intercept): (f64, f64),
    window: Option<Window>,
) -> Vec<u8> {
    let modality = |i: usize| layout.stored(samples, i) as f64 * slope + intercept;
    match window {
        Some(w) => (0..npix).map(|i| apply_window(modality(i), &w)).collect(),
        None => {
            let mut lo = f64::INFINITY;
            let mut hi = f64::NEG_INFINITY;
            for i in 0..npix {
                let m = modality(i);
                lo = lo.min(m);
                hi = hi.max(m);
            }
            let range = hi - lo;
            if !range.is_finite() || range <= 0.0 {
                return vec![0; npix];
            }
            (0..npix)
                .map(|i| to_u8((modality(i) - lo) / range * 255.0))
                .collect()
        }
    }
}

/// DICOM PS3.3 C.11.2.1.2 VOI LUT functions, output range 0..255.
fn apply_window(x: f64, w: &Window) -> u8 {
    let c = w.center;
    match w.function {
        VoiFunction::Linear => {
            let width = w.width.max(1.0);
            let lo = c - 0.5 - (width - 1.0) / 2.0;
            let hi = c - 0.5 + (width - 1.0) / 2.0;
            if x <= lo {
                0
            } else if x > hi {
                255
            } else {
                to_u8(((x - (c - 0.5)) / (width - 1.0) + 0.5) * 255.0)
            }
        }
        VoiFunction::LinearExact => {
            let width = w.width;
            if x <= c - width / 2.0 {
                0
            } else if x > c + width / 2.0 {
                255
            } else {
                to_u8(((x - c) / width + 0.5) * 255.0)
            }
        }
        VoiFunction::Sigmoid => to_u8(255.0 / (1.0 + (-4.0 * (x - c) / w.width).exp())),
    }
}

fn to_u8(v: f64) -> u8 {
    if v.is_nan() {
        0
    } else {
        v.round().clamp(0.0, 255.0) as u8
    }
}

pub(super) fn read_rescale(obj: &DefaultDicomObject) -> Result<(f64, f64), DicomError> {
    let slope = first_f64(obj, tags::RESCALE_SLOPE, "RescaleSlope")?.unwrap_or(1.0);
    let intercept = first_f64(obj, tags::RESCALE_INTERCEPT, "RescaleIntercept")?.unwrap_or(0.0);
    if !slope.is_finite() || !intercept.is_finite() {
        return Err(DicomError::Pixels(format!(
            "non-finite rescale slope/intercept ({slope}, {intercept})"
        )));
    }
    Ok((slope, intercept))
}

/// First WindowCenter/WindowWidth pair; unusable values fall back to `None`
/// (automatic windowing) rather than failing the whole image.
pub(super) fn read_window(obj: &DefaultDicomObject) -> Option<Window> {
    let center = first_f64(obj, tags::WINDOW_CENTER, "WindowCenter").ok()??;
    let width = first_f64(obj, tags::WINDOW_WIDTH, "WindowWidth").ok()??;
    if !center.is_finite() || !width.is_finite() {
        return None;
    }
    let function = match get_string(obj, tags::VOILUT_FUNCTION).as_deref() {
        Some("LINEAR_EXACT") => VoiFunction::LinearExact,
        Some("SIGMOID") => VoiFunction::Sigmoid,
        _ => VoiFunction::Linear,
    };
    let valid = match function {
        VoiFunction::Linear => width >= 1.0,
        VoiFunction::LinearExact | VoiFunction::Sigmoid => width > 0.0,
    };
    valid.then_some(Window {
        center,
        width,
        function,
    })
}
