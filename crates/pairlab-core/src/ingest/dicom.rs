//! DICOM ingestion: read a Part-10 file into display-ready 8-bit pixels,
//! and write simple secondary-capture style files (used by tests and fixtures).
//!
//! Reading uses `dicom-object` for parsing. For native (uncompressed) pixel
//! data the PixelData element is read directly; for encapsulated (compressed)
//! transfer syntaxes `dicom-pixeldata` is used only to obtain the decompressed
//! stored values of the first frame. The grey-level mapping (modality
//! rescale, VOI window, MONOCHROME1 inversion) is done here so that it is
//! exact and predictable.

use std::borrow::Cow;
use std::path::Path;

use dicom_core::{DataElement, DicomValue, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;

/// A DICOM image decoded to display-ready 8-bit pixels.
pub struct DicomImage {
    /// `ImageLuma8` for monochrome, `ImageRgb8` for RGB.
    pub image: image::DynamicImage,
    pub width: u32,
    pub height: u32,
    pub bits_stored: u16,
    /// e.g. "MONOCHROME2"
    pub photometric: String,
    /// ViewPosition (0018,5101), trimmed, `None` if empty/absent.
    pub view: Option<String>,
    /// PatientID (0010,0020)
    pub patient_id: Option<String>,
    /// StudyInstanceUID (0020,000D)
    pub study_uid: Option<String>,
    pub modality: Option<String>,
}

impl std::fmt::Debug for DicomImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DicomImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bits_stored", &self.bits_stored)
            .field("photometric", &self.photometric)
            .field("view", &self.view)
            .field("patient_id", &self.patient_id)
            .field("study_uid", &self.study_uid)
            .field("modality", &self.modality)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    #[error("not a readable DICOM file: {0}")]
    Parse(String),
    #[error("image of {width}×{height} pixels exceeds the limit of {limit} pixels")]
    TooLarge { width: u32, height: u32, limit: u64 },
    #[error("DICOM pixel data could not be decoded: {0}")]
    Pixels(String),
}

/// Pixel samples for [`write_dicom`].
#[derive(Debug, Clone)]
pub enum DicomPixels {
    Mono8(Vec<u8>),
    Mono16(Vec<u16>),
    /// Interleaved RGB triples (planar configuration 0).
    Rgb8(Vec<u8>),
}

/// Description of a file for [`write_dicom`].
#[derive(Debug, Clone)]
pub struct DicomSpec<'a> {
    pub width: u32,
    pub height: u32,
    pub pixels: DicomPixels,
    /// "MONOCHROME1" | "MONOCHROME2" | "RGB"
    pub photometric: &'a str,
    /// (slope, intercept)
    pub rescale: Option<(f64, f64)>,
    /// (center, width)
    pub window: Option<(f64, f64)>,
    pub patient_id: Option<&'a str>,
    pub study_uid: Option<&'a str>,
    pub view: Option<&'a str>,
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// Reads header + pixels. Refuses (TooLarge) BEFORE decoding pixel data when
/// rows*columns*frames > max_pixels.
///
/// Monochrome mapping: stored value → modality value (Rescale Slope/Intercept,
/// default 1/0, honouring PixelRepresentation, BitsStored and HighBit) → VOI
/// window (first WindowCenter/WindowWidth of the file with its
/// VOILUTFunction, else the min..max range of the modality values) → 0..255;
/// MONOCHROME1 is then inverted so that bright always means dense. A constant
/// image without a window maps to 0 (255 for MONOCHROME1). RGB (8-bit,
/// planar configuration 0 or 1) is passed through. Only the first frame is
/// used.
pub fn read_dicom(path: &Path, max_pixels: u64) -> Result<DicomImage, DicomError> {
    // dicom-rs is not expected to panic, but this is fed untrusted input:
    // make sure a library bug surfaces as an error rather than a crash.
    std::panic::catch_unwind(|| read_dicom_inner(path, max_pixels)).unwrap_or_else(|_| {
        Err(DicomError::Parse(format!(
            "{}: internal error while parsing (panic caught)",
            path.display()
        )))
    })
}

fn read_dicom_inner(path: &Path, max_pixels: u64) -> Result<DicomImage, DicomError> {
    // Pass 0: a cheap structural scan, so that corrupt length fields cannot
    // make the parser allocate (and zero-fill) gigabytes for a small file.
    check_structure(path)?;

    // Pass 1: header only, stopping before PixelData, so that oversized
    // images are refused without reading or decoding their pixels.
    let header = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| DicomError::Parse(format!("{}: {}", path.display(), e)))?;
    let rows = require_u16(&header, tags::ROWS, "Rows")?;
    let cols = require_u16(&header, tags::COLUMNS, "Columns")?;
    let frames = number_of_frames(&header);
    let total = u64::from(rows) * u64::from(cols) * frames;
    if total > max_pixels {
        return Err(DicomError::TooLarge {
            width: u32::from(cols),
            height: u32::from(rows),
            limit: max_pixels,
        });
    }
    drop(header);

    // Pass 2: the whole file.
    let obj = OpenFileOptions::new()
        .open_file(path)
        .map_err(|e| DicomError::Parse(format!("{}: {}", path.display(), e)))?;
    decode_object(&obj, rows, cols)
}

fn decode_object(obj: &DefaultDicomObject, rows: u16, cols: u16) -> Result<DicomImage, DicomError> {
    if rows == 0 || cols == 0 {
        return Err(DicomError::Pixels(format!(
            "image has zero size ({cols}×{rows})"
        )));
    }
    let photometric = get_string(obj, tags::PHOTOMETRIC_INTERPRETATION).ok_or_else(|| {
        DicomError::Pixels("missing PhotometricInterpretation (0028,0004)".into())
    })?;
    let samples_per_pixel = get_u16(obj, tags::SAMPLES_PER_PIXEL, "SamplesPerPixel")?.unwrap_or(1);
    let bits_allocated = get_u16(obj, tags::BITS_ALLOCATED, "BitsAllocated")?
        .ok_or_else(|| DicomError::Pixels("missing BitsAllocated (0028,0100)".into()))?;
    let bits_stored = get_u16(obj, tags::BITS_STORED, "BitsStored")?.unwrap_or(bits_allocated);
    let high_bit = get_u16(obj, tags::HIGH_BIT, "HighBit")?;
    let signed = get_u16(obj, tags::PIXEL_REPRESENTATION, "PixelRepresentation")?.unwrap_or(0) == 1;
    let planar = get_u16(obj, tags::PLANAR_CONFIGURATION, "PlanarConfiguration")?.unwrap_or(0);

    let pixel_elem = obj
        .get(tags::PIXEL_DATA)
        .ok_or_else(|| DicomError::Pixels("no PixelData (7FE0,0010) element".into()))?;

    // Obtain raw stored samples of (at least) the first frame.
    let (samples, effective_photometric, spp, planar) = match pixel_elem.value() {
        DicomValue::Primitive(p) => {
            let samples = match p {
                PrimitiveValue::U8(v) => Samples::Bytes(Cow::Borrowed(&v[..])),
                PrimitiveValue::U16(v) => Samples::Words(Cow::Borrowed(&v[..])),
                PrimitiveValue::I16(v) => {
                    Samples::Words(Cow::Owned(v.iter().map(|&x| x as u16).collect()))
                }
                PrimitiveValue::Empty => {
                    return Err(DicomError::Pixels("PixelData element is empty".into()));
                }
                // Anything else: take the raw bytes as encoded (little endian).
                other => Samples::Bytes(Cow::Owned(other.to_bytes().into_owned())),
            };
            (samples, photometric.clone(), samples_per_pixel, planar)
        }
        DicomValue::PixelSequence(_) => {
            let decoded = obj.decode_pixel_data_frame(0).map_err(|e| {
                DicomError::Pixels(format!(
                    "cannot decode frame 0 (transfer syntax {}): {}",
                    obj.meta().transfer_syntax().trim_end_matches('\0'),
                    e
                ))
            })?;
            let pi = decoded.photometric_interpretation().as_str().to_string();
            let spp = decoded.samples_per_pixel();
            let planar = match decoded.planar_configuration() {
                dicom_pixeldata::PlanarConfiguration::Standard => 0,
                dicom_pixeldata::PlanarConfiguration::PixelFirst => 1,
            };
            (
                Samples::Bytes(Cow::Owned(decoded.into_data())),
                pi,
                spp,
                planar,
            )
        }
        DicomValue::Sequence(_) => {
            return Err(DicomError::Pixels(
                "PixelData is a sequence of items, not pixel samples".into(),
            ));
        }
    };

    let width = u32::from(cols);
    let height = u32::from(rows);
    let npix = usize::from(rows) * usize::from(cols);

    let image = match effective_photometric.as_str() {
        "MONOCHROME1" | "MONOCHROME2" => {
            if spp != 1 {
                return Err(DicomError::Pixels(format!(
                    "{effective_photometric} with SamplesPerPixel {spp} (expected 1)"
                )));
            }
            let layout = SampleLayout::new(bits_allocated, bits_stored, high_bit, signed)?;
            samples.check_len(npix, bits_allocated)?;
            let rescale = read_rescale(obj)?;
            let window = read_window(obj);
            let mut out = map_monochrome(&samples, npix, &layout, rescale, window);
            if effective_photometric == "MONOCHROME1" {
                for v in &mut out {
                    *v = 255 - *v;
                }
            }
            let buf = image::GrayImage::from_raw(width, height, out).ok_or_else(|| {
                DicomError::Pixels("internal error: grey buffer size mismatch".into())
            })?;
            image::DynamicImage::ImageLuma8(buf)
        }
        "RGB" => {
            if spp != 3 || bits_allocated != 8 {
                return Err(DicomError::Pixels(format!(
                    "unsupported RGB layout: SamplesPerPixel {spp}, BitsAllocated {bits_allocated} \
                     (only 3 × 8-bit is supported)"
                )));
            }
            let n = npix * 3;
            samples.check_len(n, 8)?;
            let mut out = Vec::with_capacity(n);
            match planar {
                0 => out.extend((0..n).map(|i| samples.byte(i))),
                1 => {
                    for i in 0..npix {
                        for c in 0..3 {
                            out.push(samples.byte(c * npix + i));
                        }
                    }
                }
                other => {
                    return Err(DicomError::Pixels(format!(
                        "invalid PlanarConfiguration {other}"
                    )));
                }
            }
            let buf = image::RgbImage::from_raw(width, height, out).ok_or_else(|| {
                DicomError::Pixels("internal error: RGB buffer size mismatch".into())
            })?;
            image::DynamicImage::ImageRgb8(buf)
        }
        other => {
            return Err(DicomError::Pixels(format!(
                "unsupported photometric interpretation {other:?} \
                 (supported: MONOCHROME1, MONOCHROME2, RGB)"
            )));
        }
    };

    Ok(DicomImage {
        image,
        width,
        height,
        bits_stored,
        photometric,
        view: get_string(obj, tags::VIEW_POSITION),
        patient_id: get_string(obj, tags::PATIENT_ID),
        study_uid: get_string(obj, tags::STUDY_INSTANCE_UID),
        modality: get_string(obj, tags::MODALITY),
    })
}

/// Raw pixel data as held by the parser: bytes (OB, or decoder output, little
/// endian) or 16-bit words (OW, already in native order).
enum Samples<'a> {
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

    fn check_len(&self, samples: usize, bits_allocated: u16) -> Result<(), DicomError> {
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
    fn byte(&self, i: usize) -> u8 {
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
struct SampleLayout {
    bits_allocated: u16,
    bits_stored: u16,
    shift: u16,
    signed: bool,
}

impl SampleLayout {
    fn new(
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
struct Window {
    center: f64,
    width: f64,
    function: VoiFunction,
}

fn map_monochrome(
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

fn read_rescale(obj: &DefaultDicomObject) -> Result<(f64, f64), DicomError> {
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
fn read_window(obj: &DefaultDicomObject) -> Option<Window> {
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

/// Trimmed string value; `None` when absent, empty or not textual.
fn get_string(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let elem = obj.get(tag)?;
    let s = elem.to_str().ok()?;
    let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!s.is_empty()).then(|| s.to_string())
}

fn get_u16(obj: &InMemDicomObject, tag: Tag, name: &str) -> Result<Option<u16>, DicomError> {
    match obj.get(tag) {
        None => Ok(None),
        Some(elem) if is_blank(elem) => Ok(None),
        Some(elem) => elem
            .to_int::<u16>()
            .map(Some)
            .map_err(|e| DicomError::Pixels(format!("invalid {name} {tag}: {e}"))),
    }
}

/// An element with no value at all (or only padding).
fn is_blank(elem: &dicom_object::mem::InMemElement) -> bool {
    match elem.value().primitive() {
        None => false,
        Some(PrimitiveValue::Empty) => true,
        Some(p) => {
            p.multiplicity() == 0
                || p.to_str()
                    .trim_matches(|c: char| c.is_whitespace() || c == '\0')
                    .is_empty()
        }
    }
}

fn require_u16(obj: &InMemDicomObject, tag: Tag, name: &str) -> Result<u16, DicomError> {
    get_u16(obj, tag, name)?.ok_or_else(|| DicomError::Pixels(format!("missing {name} {tag}")))
}

fn number_of_frames(obj: &InMemDicomObject) -> u64 {
    obj.get(tags::NUMBER_OF_FRAMES)
        .and_then(|e| e.to_int::<i64>().ok())
        .map_or(1, |n| n.max(1) as u64)
}

/// First value of a numeric (DS/FD/...) element.
fn first_f64(obj: &InMemDicomObject, tag: Tag, name: &str) -> Result<Option<f64>, DicomError> {
    let Some(elem) = obj.get(tag) else {
        return Ok(None);
    };
    if is_blank(elem) {
        return Ok(None);
    }
    let values = elem
        .to_multi_float64()
        .map_err(|e| DicomError::Pixels(format!("invalid {name} {tag}: {e}")))?;
    Ok(values.first().copied())
}

// ---------------------------------------------------------------------------
// Structural pre-scan
// ---------------------------------------------------------------------------

/// Maximum sequence nesting accepted (real files nest a handful of levels;
/// the parser recurses per level, so unbounded nesting could overflow the
/// stack).
const MAX_NESTING: u32 = 64;

/// Walks the element headers of the file (without reading values) and
/// rejects lengths that run past the end of the file or absurd nesting.
///
/// dicom-rs reserves and zero-fills a buffer of the declared length before
/// reading a value, so a single corrupt length field in a tiny file costs up
/// to 4 GiB of memory. Every length rejected here would make the real parse
/// fail anyway, so this adds no false negatives for valid files; whenever the
/// scan does not understand something it stops and leaves the verdict to
/// dicom-rs.
fn check_structure(path: &Path) -> Result<(), DicomError> {
    let parse_err = |msg: String| DicomError::Parse(format!("{}: {}", path.display(), msg));
    let file = std::fs::File::open(path).map_err(|e| parse_err(e.to_string()))?;
    let len = file.metadata().map_err(|e| parse_err(e.to_string()))?.len();
    let mut scanner = Scanner {
        r: std::io::BufReader::new(file),
        pos: 0,
        len,
        skew: 0,
    };
    match scanner.scan_file() {
        Ok(_) => Ok(()),
        Err(ScanError::Io(e)) => Err(parse_err(e.to_string())),
        Err(ScanError::Corrupt(msg)) => Err(parse_err(msg)),
    }
}

enum ScanError {
    Io(std::io::Error),
    Corrupt(String),
}

impl From<std::io::Error> for ScanError {
    fn from(e: std::io::Error) -> Self {
        ScanError::Io(e)
    }
}

/// `Continue`: this part was understood; `GiveUp`: stop scanning, no verdict.
#[derive(PartialEq)]
enum Flow {
    Continue,
    GiveUp,
}

#[derive(Clone, Copy)]
struct Mode {
    explicit: bool,
    big_endian: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum DatasetEnd {
    /// top level: ends at end of file
    Eof,
    /// undefined-length item: ends with an item delimiter
    Delimiter,
    /// defined-length item
    At(u64),
}

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_DELIMITER: (u16, u16) = (0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: (u16, u16) = (0xFFFE, 0xE0DD);

struct Scanner<R> {
    r: R,
    /// bytes actually consumed
    pos: u64,
    /// file size
    len: u64,
    /// how far dicom-rs' position counter runs ahead of `pos` (see
    /// `scan_dataset`); defined-length items end by that counter
    skew: u64,
}

impl<R: std::io::Read + std::io::Seek> Scanner<R> {
    fn logical(&self) -> u64 {
        self.pos + self.skew
    }

    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn read_bytes<const N: usize>(&mut self) -> Result<Option<[u8; N]>, ScanError> {
        if self.remaining() < N as u64 {
            return Ok(None);
        }
        let mut buf = [0u8; N];
        self.r.read_exact(&mut buf)?;
        self.pos += N as u64;
        Ok(Some(buf))
    }

    fn read_u16(&mut self, big: bool) -> Result<Option<u16>, ScanError> {
        Ok(self.read_bytes::<2>()?.map(|b| {
            if big {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        }))
    }

    fn read_u32(&mut self, big: bool) -> Result<Option<u32>, ScanError> {
        Ok(self.read_bytes::<4>()?.map(|b| {
            if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        }))
    }

    fn read_tag(&mut self, big: bool) -> Result<Option<(u16, u16)>, ScanError> {
        let Some(group) = self.read_u16(big)? else {
            return Ok(None);
        };
        Ok(self.read_u16(big)?.map(|element| (group, element)))
    }

    /// Checks that a value of `len` bytes fits in the rest of the file.
    fn check_len(&self, tag: (u16, u16), len: u32) -> Result<(), ScanError> {
        if u64::from(len) > self.remaining() {
            return Err(ScanError::Corrupt(format!(
                "element ({:04X},{:04X}) declares {} bytes at offset {}, but only {} remain",
                tag.0,
                tag.1,
                len,
                self.pos,
                self.remaining()
            )));
        }
        Ok(())
    }

    fn skip(&mut self, len: u32) -> Result<(), ScanError> {
        self.r.seek_relative(i64::from(len))?;
        self.pos += u64::from(len);
        Ok(())
    }

    fn scan_file(&mut self) -> Result<Flow, ScanError> {
        // preamble + magic code (dicom-rs accepts both with and without preamble)
        let Some(head) = self.read_bytes::<132>()? else {
            return Ok(Flow::GiveUp);
        };
        if &head[128..132] != b"DICM" {
            if &head[0..4] != b"DICM" {
                return Ok(Flow::GiveUp);
            }
            self.r.seek(std::io::SeekFrom::Start(4))?;
            self.pos = 4;
        }
        // File meta group: always explicit VR little endian. Like dicom-rs,
        // read (0002,0000) first and then as many bytes as it announces.
        let meta_mode = Mode {
            explicit: true,
            big_endian: false,
        };
        if self.read_tag(false)? != Some((0x0002, 0x0000)) {
            return Ok(Flow::GiveUp);
        }
        if !matches!(
            self.read_header_rest(meta_mode, (0x0002, 0x0000))?,
            Some((_, 4))
        ) {
            return Ok(Flow::GiveUp);
        }
        let Some(group_length) = self.read_u32(false)? else {
            return Ok(Flow::GiveUp);
        };
        let meta_start = self.pos;
        let mut transfer_syntax = String::new();
        while self.pos - meta_start < u64::from(group_length) {
            let Some(tag) = self.read_tag(false)? else {
                return Ok(Flow::GiveUp);
            };
            let header = if tag.0 == 0xFFFE {
                self.read_u32(false)?.map(|len| (VR::UN, len))
            } else {
                self.read_header_rest(meta_mode, tag)?
            };
            let Some((_, len)) = header else {
                return Ok(Flow::GiveUp);
            };
            if len == UNDEFINED {
                return Ok(Flow::GiveUp);
            }
            self.check_len(tag, len)?;
            if tag == (0x0002, 0x0010) && len <= 128 {
                let mut buf = vec![0u8; len as usize];
                self.r.read_exact(&mut buf)?;
                self.pos += u64::from(len);
                transfer_syntax = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\0', ' '])
                    .to_string();
            } else {
                self.skip(len)?;
            }
        }
        let mode = match transfer_syntax.as_str() {
            "1.2.840.10008.1.2" => Mode {
                explicit: false,
                big_endian: false,
            },
            "1.2.840.10008.1.2.2" => Mode {
                explicit: true,
                big_endian: true,
            },
            // deflated: the data set is compressed, nothing to scan here
            "1.2.840.10008.1.2.1.99" | "" => return Ok(Flow::GiveUp),
            _ => Mode {
                explicit: true,
                big_endian: false,
            },
        };
        self.scan_dataset(mode, DatasetEnd::Eof, 0)
    }

    /// Reads what follows a tag: (VR, length), with the VR resolved exactly
    /// as dicom-rs does; `None` at end of file.
    fn read_header_rest(
        &mut self,
        mode: Mode,
        tag: (u16, u16),
    ) -> Result<Option<(VR, u32)>, ScanError> {
        if !mode.explicit {
            // implicit VR: OW for pixel/overlay data, else the dictionary, else UN
            let vr = if tag == (0x7FE0, 0x0010) || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
                VR::OW
            } else {
                use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
                dicom_dictionary_std::StandardDataDictionary
                    .by_tag(Tag(tag.0, tag.1))
                    .map_or(VR::UN, |e| e.vr().relaxed())
            };
            return Ok(self.read_u32(mode.big_endian)?.map(|len| (vr, len)));
        }
        let Some(bytes) = self.read_bytes::<2>()? else {
            return Ok(None);
        };
        let vr = VR::from_binary(bytes).unwrap_or(VR::UN);
        // 16-bit length for these VRs, otherwise 2 reserved bytes + 32-bit length
        use VR::*;
        let short = matches!(
            vr,
            AE | AS
                | AT
                | CS
                | DA
                | DS
                | DT
                | FL
                | FD
                | IS
                | LO
                | LT
                | PN
                | SH
                | SL
                | SS
                | ST
                | TM
                | UI
                | UL
                | US
        );
        if short {
            Ok(self
                .read_u16(mode.big_endian)?
                .map(|len| (vr, u32::from(len))))
        } else {
            if self.read_bytes::<2>()?.is_none() {
                return Ok(None);
            }
            Ok(self.read_u32(mode.big_endian)?.map(|len| (vr, len)))
        }
    }

    fn scan_dataset(&mut self, mode: Mode, end: DatasetEnd, depth: u32) -> Result<Flow, ScanError> {
        use VR::*;
        loop {
            match end {
                DatasetEnd::Eof if self.remaining() == 0 => return Ok(Flow::Continue),
                DatasetEnd::At(e) if self.logical() == e => return Ok(Flow::Continue),
                DatasetEnd::At(e) if self.logical() > e => return Ok(Flow::GiveUp),
                _ => {}
            }
            let Some(tag) = self.read_tag(mode.big_endian)? else {
                return Ok(Flow::GiveUp);
            };
            if tag == ITEM_DELIMITER && end == DatasetEnd::Delimiter {
                return Ok(match self.read_u32(mode.big_endian)? {
                    Some(_) => Flow::Continue,
                    None => Flow::GiveUp,
                });
            }
            if tag.0 == 0xFFFE {
                return Ok(Flow::GiveUp);
            }
            let Some((vr, len)) = self.read_header_rest(mode, tag)? else {
                return Ok(Flow::GiveUp);
            };
            let flow = if len == UNDEFINED {
                if tag == (0x7FE0, 0x0010) {
                    self.scan_fragments(mode)?
                } else {
                    // dicom-rs reads any other undefined length element as a
                    // sequence, in the same encoding
                    self.scan_sequence(mode, None, depth + 1)?
                }
            } else if vr == VR::SQ {
                self.check_len(tag, len)?;
                let end = self.logical() + u64::from(len);
                self.scan_sequence(mode, Some(end), depth + 1)?
            } else {
                // dicom-rs reads whole binary numbers only: a length that is
                // not a multiple of the number size leaves bytes unread
                // (while its position counter still advances by `len`)
                let unit = match vr {
                    US | OW | SS => 2,
                    AT | FL | OF | SL | UL | OL => 4,
                    FD | OD | SV | UV | OV => 8,
                    _ => 1,
                };
                let consumed = len - len % unit;
                self.check_len(tag, consumed)?;
                self.skip(consumed)?;
                self.skew += u64::from(len - consumed);
                Flow::Continue
            };
            if flow == Flow::GiveUp {
                return Ok(Flow::GiveUp);
            }
        }
    }

    fn scan_sequence(
        &mut self,
        mode: Mode,
        end: Option<u64>,
        depth: u32,
    ) -> Result<Flow, ScanError> {
        if depth > MAX_NESTING {
            return Err(ScanError::Corrupt(format!(
                "sequences nested deeper than {MAX_NESTING} levels"
            )));
        }
        loop {
            match end {
                Some(e) if self.logical() == e => return Ok(Flow::Continue),
                Some(e) if self.logical() > e => return Ok(Flow::GiveUp),
                _ => {}
            }
            let Some(tag) = self.read_tag(mode.big_endian)? else {
                return Ok(Flow::GiveUp);
            };
            let Some(len) = self.read_u32(mode.big_endian)? else {
                return Ok(Flow::GiveUp);
            };
            let flow = if tag == SEQUENCE_DELIMITER && end.is_none() {
                return Ok(Flow::Continue);
            } else if tag == ITEM && len == UNDEFINED {
                self.scan_dataset(mode, DatasetEnd::Delimiter, depth)?
            } else if tag == ITEM {
                self.check_len(tag, len)?;
                let item_end = self.logical() + u64::from(len);
                self.scan_dataset(mode, DatasetEnd::At(item_end), depth)?
            } else {
                Flow::GiveUp
            };
            if flow == Flow::GiveUp {
                return Ok(Flow::GiveUp);
            }
        }
    }

    fn scan_fragments(&mut self, mode: Mode) -> Result<Flow, ScanError> {
        loop {
            let Some(tag) = self.read_tag(mode.big_endian)? else {
                return Ok(Flow::GiveUp);
            };
            let Some(len) = self.read_u32(mode.big_endian)? else {
                return Ok(Flow::GiveUp);
            };
            if tag == SEQUENCE_DELIMITER {
                return Ok(Flow::Continue);
            }
            if tag != ITEM || len == UNDEFINED {
                return Ok(Flow::GiveUp);
            }
            self.check_len(tag, len)?;
            self.skip(len)?;
        }
    }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// Writes a valid Part-10 file (explicit VR little endian, Secondary Capture
/// Image Storage with CR/DX-style attributes, file meta group, fresh SOP
/// instance / series (and study, unless given) UIDs) that [`read_dicom`] and
/// other DICOM readers accept.
///
/// Invalid specs (pixel count not matching width×height, unknown or
/// mismatched photometric, non-finite rescale/window) are refused with
/// [`DicomError::Pixels`]; I/O failures are reported as [`DicomError::Parse`].
pub fn write_dicom(path: &Path, spec: &DicomSpec) -> Result<(), DicomError> {
    let invalid = |msg: String| DicomError::Pixels(format!("cannot write DICOM: {msg}"));

    if spec.width == 0 || spec.height == 0 || spec.width > 65535 || spec.height > 65535 {
        return Err(invalid(format!(
            "image size {}×{} is outside 1..=65535",
            spec.width, spec.height
        )));
    }
    let npix = spec.width as usize * spec.height as usize;
    let is_mono = matches!(spec.photometric, "MONOCHROME1" | "MONOCHROME2");
    let (len, samples_per_pixel, bits) = match &spec.pixels {
        DicomPixels::Mono8(v) => (v.len(), 1u16, 8u16),
        DicomPixels::Mono16(v) => (v.len(), 1, 16),
        DicomPixels::Rgb8(v) => (v.len(), 3, 8),
    };
    let expected = npix * usize::from(samples_per_pixel);
    if len != expected {
        return Err(invalid(format!(
            "{len} samples given, {}×{} needs {expected}",
            spec.width, spec.height
        )));
    }
    let photometric_ok = match spec.pixels {
        DicomPixels::Rgb8(_) => spec.photometric == "RGB",
        DicomPixels::Mono8(_) | DicomPixels::Mono16(_) => is_mono,
    };
    if !photometric_ok {
        return Err(invalid(format!(
            "photometric {:?} does not match the pixel type",
            spec.photometric
        )));
    }

    let sop_class = uids::SECONDARY_CAPTURE_IMAGE_STORAGE;
    let sop_instance = new_uid();
    let series_uid = new_uid();
    let study_uid = match spec.study_uid {
        Some(uid) => uid.to_string(),
        None => new_uid(),
    };

    let str_el = |tag: Tag, vr: VR, s: &str| DataElement::new(tag, vr, PrimitiveValue::from(s));
    let us_el = |tag: Tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));

    let mut obj = InMemDicomObject::from_element_iter([
        str_el(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"),
        DataElement::new(
            tags::IMAGE_TYPE,
            VR::CS,
            PrimitiveValue::Strs(["DERIVED", "SECONDARY"].map(String::from).into()),
        ),
        str_el(tags::SOP_CLASS_UID, VR::UI, sop_class),
        str_el(tags::SOP_INSTANCE_UID, VR::UI, &sop_instance),
        str_el(tags::STUDY_DATE, VR::DA, ""),
        str_el(tags::STUDY_TIME, VR::TM, ""),
        str_el(tags::ACCESSION_NUMBER, VR::SH, ""),
        str_el(tags::MODALITY, VR::CS, if is_mono { "DX" } else { "OT" }),
        str_el(tags::CONVERSION_TYPE, VR::CS, "WSD"),
        str_el(tags::REFERRING_PHYSICIAN_NAME, VR::PN, ""),
        str_el(tags::PATIENT_NAME, VR::PN, ""),
        str_el(tags::PATIENT_ID, VR::LO, spec.patient_id.unwrap_or("")),
        str_el(tags::PATIENT_BIRTH_DATE, VR::DA, ""),
        str_el(tags::PATIENT_SEX, VR::CS, ""),
        str_el(tags::STUDY_INSTANCE_UID, VR::UI, &study_uid),
        str_el(tags::SERIES_INSTANCE_UID, VR::UI, &series_uid),
        str_el(tags::STUDY_ID, VR::SH, ""),
        str_el(tags::SERIES_NUMBER, VR::IS, "1"),
        str_el(tags::INSTANCE_NUMBER, VR::IS, "1"),
        str_el(tags::PATIENT_ORIENTATION, VR::CS, ""),
        us_el(tags::SAMPLES_PER_PIXEL, samples_per_pixel),
        str_el(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, spec.photometric),
        us_el(tags::ROWS, spec.height as u16),
        us_el(tags::COLUMNS, spec.width as u16),
        us_el(tags::BITS_ALLOCATED, bits),
        us_el(tags::BITS_STORED, bits),
        us_el(tags::HIGH_BIT, bits - 1),
        us_el(tags::PIXEL_REPRESENTATION, 0),
    ]);
    if let Some(view) = spec.view {
        obj.put(str_el(tags::VIEW_POSITION, VR::CS, view));
    }
    if samples_per_pixel == 3 {
        obj.put(us_el(tags::PLANAR_CONFIGURATION, 0));
    }
    if let Some((slope, intercept)) = spec.rescale {
        if !is_mono {
            return Err(invalid(
                "rescale is only meaningful for monochrome images".into(),
            ));
        }
        obj.put(str_el(
            tags::RESCALE_INTERCEPT,
            VR::DS,
            &format_ds(intercept)
                .ok_or_else(|| invalid(format!("rescale intercept {intercept} is not finite")))?,
        ));
        obj.put(str_el(
            tags::RESCALE_SLOPE,
            VR::DS,
            &format_ds(slope)
                .ok_or_else(|| invalid(format!("rescale slope {slope} is not finite")))?,
        ));
        obj.put(str_el(tags::RESCALE_TYPE, VR::LO, "US"));
    }
    if let Some((center, width)) = spec.window {
        if !is_mono {
            return Err(invalid(
                "a VOI window is only meaningful for monochrome images".into(),
            ));
        }
        if width.is_nan() || width < 1.0 {
            return Err(invalid(format!("window width {width} must be >= 1")));
        }
        obj.put(str_el(
            tags::WINDOW_CENTER,
            VR::DS,
            &format_ds(center)
                .ok_or_else(|| invalid(format!("window center {center} is not finite")))?,
        ));
        obj.put(str_el(
            tags::WINDOW_WIDTH,
            VR::DS,
            &format_ds(width)
                .ok_or_else(|| invalid(format!("window width {width} is not finite")))?,
        ));
    }
    let pixel_data = match &spec.pixels {
        DicomPixels::Mono8(v) | DicomPixels::Rgb8(v) => {
            DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(v.clone()))
        }
        DicomPixels::Mono16(v) => DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(dicom_core::smallvec::SmallVec::from_vec(v.clone())),
        ),
    };
    obj.put(pixel_data);

    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(sop_class)
                .media_storage_sop_instance_uid(sop_instance.as_str()),
        )
        .map_err(|e| invalid(format!("file meta group: {e}")))?;
    file.write_to_file(path).map_err(|e| {
        // do not leave a half-written file behind
        let _ = std::fs::remove_file(path);
        DicomError::Parse(format!("could not write {}: {}", path.display(), e))
    })
}

/// Formats a decimal string (DS, at most 16 characters).
fn format_ds(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    let plain = format!("{v}");
    if plain.len() <= 16 {
        return Some(plain);
    }
    (0..=15usize)
        .rev()
        .map(|prec| format!("{v:.prec$e}"))
        .find(|s| s.len() <= 16)
}

/// A fresh UID under the `2.25.` (UUID-derived) root.
fn new_uid() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut halves = [0u64; 2];
    for (i, half) in halves.iter_mut().enumerate() {
        // RandomState is seeded randomly per process and per instance.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_u64(count);
        h.write_usize(i);
        *half = h.finish();
    }
    let value = (u128::from(halves[0]) << 64) | u128::from(halves[1]);
    format!("2.25.{value}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(width: u32, height: u32, pixels: DicomPixels, photometric: &str) -> DicomSpec<'_> {
        DicomSpec {
            width,
            height,
            pixels,
            photometric,
            rescale: None,
            window: None,
            patient_id: None,
            study_uid: None,
            view: None,
        }
    }

    fn round_trip(spec: &DicomSpec) -> DicomImage {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        write_dicom(&path, spec).unwrap();
        read_dicom(&path, u64::MAX).unwrap()
    }

    fn luma(img: &DicomImage) -> Vec<u8> {
        match &img.image {
            image::DynamicImage::ImageLuma8(b) => b.as_raw().clone(),
            other => panic!("expected Luma8, got {:?}", other.color()),
        }
    }

    #[test]
    fn mono8_round_trip() {
        let px = vec![0u8, 10, 128, 255, 77, 3];
        let img = round_trip(&spec(3, 2, DicomPixels::Mono8(px.clone()), "MONOCHROME2"));
        assert_eq!((img.width, img.height), (3, 2));
        assert_eq!(img.bits_stored, 8);
        assert_eq!(img.photometric, "MONOCHROME2");
        assert_eq!(img.modality.as_deref(), Some("DX"));
        assert_eq!(luma(&img), px);
    }

    #[test]
    fn mono8_odd_length_round_trip() {
        // 3×3 = 9 bytes: PixelData needs padding to an even length
        let px: Vec<u8> = (0..9).map(|i| i * 30).collect();
        let img = round_trip(&spec(3, 3, DicomPixels::Mono8(px.clone()), "MONOCHROME2"));
        assert_eq!(luma(&img), vec![0, 32, 64, 96, 128, 159, 191, 223, 255]);
    }

    #[test]
    fn mono16_window_from_file() {
        let px = vec![0u16, 500, 750, 1000, 1499, 4000];
        let mut s = spec(6, 1, DicomPixels::Mono16(px), "MONOCHROME2");
        s.window = Some((1000.0, 1000.0));
        let img = round_trip(&s);
        assert_eq!(img.bits_stored, 16);
        // linear VOI: x <= 500 -> 0, x > 1499 -> 255,
        // else ((x - 999.5) / 999 + 0.5) * 255
        // 750 -> 63.81 -> 64 ; 1000 -> 127.63 -> 128 ; 1499 -> 255
        assert_eq!(luma(&img), vec![0, 0, 64, 128, 255, 255]);
    }

    #[test]
    fn mono16_auto_window() {
        let px = vec![1000u16, 1255, 1510, 2020];
        let img = round_trip(&spec(2, 2, DicomPixels::Mono16(px), "MONOCHROME2"));
        // min 1000 -> 0, max 2020 -> 255, 1255 -> 63.75 -> 64, 1510 -> 127.5 -> 128
        assert_eq!(luma(&img), vec![0, 64, 128, 255]);
    }

    #[test]
    fn constant_image_has_no_division_by_zero() {
        let img = round_trip(&spec(2, 2, DicomPixels::Mono16(vec![7; 4]), "MONOCHROME2"));
        assert_eq!(luma(&img), vec![0; 4]);
    }

    #[test]
    fn rescale_changes_window_mapping() {
        // same stored values and window, different rescale
        let px = vec![0u16, 500, 1000, 1500, 2000];
        let mut plain = spec(5, 1, DicomPixels::Mono16(px.clone()), "MONOCHROME2");
        plain.window = Some((0.5, 1001.0)); // linear: x <= -500 -> 0, x > 500 -> 255
        let a = round_trip(&plain);
        // without rescale: 0 -> ((0 - 0) / 1000 + 0.5) * 255 = 127.5 -> 128; rest > 500
        assert_eq!(luma(&a), vec![128, 255, 255, 255, 255]);

        let mut rescaled = plain.clone();
        rescaled.rescale = Some((0.5, -500.0)); // modality = stored / 2 - 500
        let b = round_trip(&rescaled);
        // modality: -500, -250, 0, 250, 500
        // -500 -> 0; -250 -> (-0.25 + 0.5) * 255 = 63.75 -> 64; 0 -> 128;
        // 250 -> 191.25 -> 191; 500 -> (0.5 + 0.5) * 255 = 255
        assert_eq!(luma(&b), vec![0, 64, 128, 191, 255]);
    }

    #[test]
    fn rescale_with_auto_window_is_range_based() {
        let mut s = spec(3, 1, DicomPixels::Mono16(vec![0, 10, 20]), "MONOCHROME2");
        s.rescale = Some((-1.0, 100.0)); // negative slope flips the ordering
        let img = round_trip(&s);
        assert_eq!(luma(&img), vec![255, 128, 0]);
    }

    #[test]
    fn monochrome1_is_inverted() {
        let px = vec![0u8, 10, 128, 255];
        let img = round_trip(&spec(2, 2, DicomPixels::Mono8(px), "MONOCHROME1"));
        assert_eq!(img.photometric, "MONOCHROME1");
        assert_eq!(luma(&img), vec![255, 245, 127, 0]);

        let mut s = spec(
            3,
            1,
            DicomPixels::Mono16(vec![0, 1000, 1499]),
            "MONOCHROME1",
        );
        s.window = Some((1000.0, 1000.0));
        assert_eq!(luma(&round_trip(&s)), vec![255, 127, 0]);
    }

    #[test]
    fn rgb_round_trip() {
        let px: Vec<u8> = (0..2 * 2 * 3).map(|i| (i * 20) as u8).collect();
        let img = round_trip(&spec(2, 2, DicomPixels::Rgb8(px.clone()), "RGB"));
        assert_eq!(img.photometric, "RGB");
        assert_eq!(img.bits_stored, 8);
        match &img.image {
            image::DynamicImage::ImageRgb8(b) => assert_eq!(b.as_raw(), &px),
            other => panic!("expected Rgb8, got {:?}", other.color()),
        }
    }

    #[test]
    fn ids_and_view_read_back() {
        let mut s = spec(1, 1, DicomPixels::Mono8(vec![1]), "MONOCHROME2");
        s.patient_id = Some("p10000032");
        s.study_uid = Some("1.2.826.0.1.3680043.8.498.12345");
        s.view = Some("PA");
        let img = round_trip(&s);
        assert_eq!(img.patient_id.as_deref(), Some("p10000032"));
        assert_eq!(
            img.study_uid.as_deref(),
            Some("1.2.826.0.1.3680043.8.498.12345")
        );
        assert_eq!(img.view.as_deref(), Some("PA"));

        // absent ids: view/patient None, study UID generated
        let img = round_trip(&spec(1, 1, DicomPixels::Mono8(vec![1]), "MONOCHROME2"));
        assert_eq!(img.view, None);
        assert_eq!(img.patient_id, None);
        let uid = img.study_uid.unwrap();
        assert!(uid.starts_with("2.25.") && uid.len() <= 64, "{uid}");
    }

    #[test]
    fn written_file_has_part10_structure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        write_dicom(
            &path,
            &spec(2, 1, DicomPixels::Mono8(vec![1, 2]), "MONOCHROME2"),
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[128..132], b"DICM");
        let obj = dicom_object::open_file(&path).unwrap();
        assert_eq!(
            obj.meta().transfer_syntax(),
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        );
        let sop = obj
            .element(tags::SOP_INSTANCE_UID)
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(
            obj.meta().media_storage_sop_instance_uid(),
            sop.trim_end_matches('\0')
        );
        assert_eq!(
            obj.meta().media_storage_sop_class_uid(),
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE
        );
        // dicom-pixeldata's own decoder accepts it as well
        let decoded = obj.decode_pixel_data().unwrap();
        assert_eq!(decoded.data(), &[1, 2]);
    }

    #[test]
    fn too_large_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        write_dicom(
            &path,
            &spec(4, 3, DicomPixels::Mono8(vec![0; 12]), "MONOCHROME2"),
        )
        .unwrap();
        match read_dicom(&path, 11) {
            Err(DicomError::TooLarge {
                width,
                height,
                limit,
            }) => assert_eq!((width, height, limit), (4, 3, 11)),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(read_dicom(&path, 12).is_ok());
    }

    #[test]
    fn random_bytes_are_a_parse_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        let mut state = 0x1234_5678_9abc_def0u64;
        let bytes: Vec<u8> = (0..4096)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(
            read_dicom(&path, u64::MAX),
            Err(DicomError::Parse(_))
        ));
    }

    #[test]
    fn truncated_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        let px: Vec<u16> = (0..64 * 64).map(|i| i as u16).collect();
        write_dicom(&path, &spec(64, 64, DicomPixels::Mono16(px), "MONOCHROME2")).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_dicom(&path, u64::MAX).unwrap_err();
        assert!(matches!(err, DicomError::Parse(_)), "{err}");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        let mut s = spec(4, 4, DicomPixels::Mono16(vec![9; 16]), "MONOCHROME2");
        s.window = Some((5.0, 10.0));
        s.view = Some("AP");
        write_dicom(&path, &s).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.dcm");
        for len in 0..bytes.len() {
            std::fs::write(&cut, &bytes[..len]).unwrap();
            assert!(read_dicom(&cut, u64::MAX).is_err(), "prefix of {len} bytes");
        }
    }

    #[test]
    fn zero_byte_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(
            read_dicom(&path, u64::MAX),
            Err(DicomError::Parse(_))
        ));
        assert!(matches!(
            read_dicom(&dir.path().join("missing.dcm"), u64::MAX),
            Err(DicomError::Parse(_))
        ));
    }

    /// Writes `obj` (a full data set) as an explicit VR little endian file.
    fn write_obj(path: &Path, obj: InMemDicomObject) {
        obj.with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
                .media_storage_sop_instance_uid("2.25.1"),
        )
        .unwrap()
        .write_to_file(path)
        .unwrap();
    }

    fn base_obj(rows: u16, cols: u16, photometric: &str, spp: u16, bits: u16) -> InMemDicomObject {
        InMemDicomObject::from_element_iter([
            DataElement::new(
                tags::SOP_CLASS_UID,
                VR::UI,
                uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
            ),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "2.25.1"),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(spp)),
            DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, photometric),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(cols)),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(bits)),
            DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(bits)),
            DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(bits - 1)),
            DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(0u16),
            ),
        ])
    }

    #[test]
    fn missing_pixel_data_is_a_pixels_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        write_obj(&path, base_obj(2, 2, "MONOCHROME2", 1, 8));
        let err = read_dicom(&path, u64::MAX).unwrap_err();
        assert!(matches!(err, DicomError::Pixels(_)), "{err}");
    }

    #[test]
    fn short_pixel_data_is_a_pixels_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        let mut obj = base_obj(4, 4, "MONOCHROME2", 1, 8);
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(vec![1u8; 10]),
        ));
        write_obj(&path, obj);
        let err = read_dicom(&path, u64::MAX).unwrap_err();
        assert!(
            matches!(&err, DicomError::Pixels(m) if m.contains("too short")),
            "{err}"
        );
    }

    #[test]
    fn unsupported_photometric_is_a_pixels_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        let mut obj = base_obj(2, 2, "PALETTE COLOR", 1, 8);
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(vec![1u8; 4]),
        ));
        write_obj(&path, obj);
        let err = read_dicom(&path, u64::MAX).unwrap_err();
        assert!(
            matches!(&err, DicomError::Pixels(m) if m.contains("PALETTE COLOR")),
            "{err}"
        );
    }

    #[test]
    fn signed_12_bit_with_multi_valued_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        let mut obj = base_obj(1, 4, "MONOCHROME2", 1, 16);
        obj.put(DataElement::new(
            tags::BITS_STORED,
            VR::US,
            PrimitiveValue::from(12u16),
        ));
        obj.put(DataElement::new(
            tags::HIGH_BIT,
            VR::US,
            PrimitiveValue::from(11u16),
        ));
        obj.put(DataElement::new(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(1u16),
        ));
        // 12-bit two's complement: 0xFFF = -1, 0x800 = -2048, 0x7FF = 2047;
        // the unused high bits carry garbage that must be ignored.
        let px = vec![0xF000u16 | 0x0FFF, 0x0800, 0x07FF, 0xA000];
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(px.into()),
        ));
        obj.put(DataElement::new(tags::WINDOW_CENTER, VR::DS, "0.5\\100"));
        obj.put(DataElement::new(tags::WINDOW_WIDTH, VR::DS, "2\\50"));
        write_obj(&path, obj);
        let img = read_dicom(&path, u64::MAX).unwrap();
        assert_eq!(img.bits_stored, 12);
        // window (0.5, 2): x <= -0.5 -> 0, x > 0.5 -> 255, 0 -> (-0 / 1 + .5)*255 = 128
        assert_eq!(luma(&img), vec![0, 0, 255, 128]);
    }

    #[test]
    fn rgb_planar_configuration_1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        let mut obj = base_obj(1, 2, "RGB", 3, 8);
        obj.put(DataElement::new(
            tags::PLANAR_CONFIGURATION,
            VR::US,
            PrimitiveValue::from(1u16),
        ));
        // R plane, G plane, B plane
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(vec![1u8, 2, 3, 4, 5, 6]),
        ));
        write_obj(&path, obj);
        let img = read_dicom(&path, u64::MAX).unwrap();
        assert_eq!(img.image.as_bytes(), &[1, 3, 5, 2, 4, 6]);
    }

    #[test]
    fn multi_frame_uses_first_frame_and_counts_all_for_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        let mut obj = base_obj(1, 2, "MONOCHROME2", 1, 8);
        obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, "3"));
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(vec![10u8, 20, 0, 255, 0, 255]),
        ));
        write_obj(&path, obj);
        assert_eq!(luma(&read_dicom(&path, 6).unwrap()), vec![0, 255]);
        assert!(matches!(
            read_dicom(&path, 5),
            Err(DicomError::TooLarge { .. })
        ));
    }

    #[test]
    fn writer_rejects_inconsistent_specs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        let bad = [
            spec(2, 2, DicomPixels::Mono8(vec![0; 3]), "MONOCHROME2"),
            spec(0, 2, DicomPixels::Mono8(vec![]), "MONOCHROME2"),
            spec(1, 1, DicomPixels::Mono8(vec![0]), "RGB"),
            spec(1, 1, DicomPixels::Rgb8(vec![0; 3]), "MONOCHROME2"),
            spec(1, 1, DicomPixels::Mono16(vec![0]), "YBR_FULL"),
        ];
        for s in &bad {
            assert!(matches!(write_dicom(&path, s), Err(DicomError::Pixels(_))));
        }
        let mut s = spec(1, 1, DicomPixels::Mono16(vec![0]), "MONOCHROME2");
        s.window = Some((f64::NAN, 10.0));
        assert!(write_dicom(&path, &s).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn corrupt_length_is_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        write_dicom(
            &path,
            &spec(2, 2, DicomPixels::Mono8(vec![1, 2, 3, 4]), "MONOCHROME2"),
        )
        .unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        // PixelData header: (7FE0,0010) OB 00 00 <u32 length>
        let hdr = [0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0];
        let at = bytes.windows(8).position(|w| w == hdr).unwrap() + 8;
        bytes[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = read_dicom(&path, u64::MAX).unwrap_err();
        assert!(
            matches!(&err, DicomError::Parse(m) if m.contains("declares")),
            "{err}"
        );

        // the same in the file meta group (unknown VR → 32-bit length)
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at..at + 4].copy_from_slice(&4u32.to_le_bytes());
        bytes[163] = 0xE0; // VR of (0002,0002) at offset 162: "UI" -> "U\xE0"
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_dicom(&path, u64::MAX).is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        write_dicom(
            &path,
            &spec(1, 1, DicomPixels::Mono8(vec![1]), "MONOCHROME2"),
        )
        .unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        for _ in 0..10_000 {
            // (7FE1,0010) SQ, undefined length, then an undefined-length item
            bytes.extend_from_slice(&[0xE1, 0x7F, 0x10, 0x00, b'S', b'Q', 0, 0]);
            bytes.extend_from_slice(&[0xFF; 4]);
            bytes.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        std::fs::write(&path, &bytes).unwrap();
        let err = read_dicom(&path, u64::MAX).unwrap_err();
        assert!(
            matches!(&err, DicomError::Parse(m) if m.contains("nested")),
            "{err}"
        );
    }

    #[test]
    fn nested_sequences_pass_the_structure_scan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        let mut obj = base_obj(1, 2, "MONOCHROME2", 1, 8);
        let code = InMemDicomObject::from_element_iter([
            DataElement::new(tags::CODE_VALUE, VR::SH, "R-10224"),
            DataElement::new(tags::CODE_MEANING, VR::LO, "posterior-anterior"),
        ]);
        let view = InMemDicomObject::from_element_iter([DataElement::new(
            tags::VIEW_MODIFIER_CODE_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![code.clone()]),
        )]);
        obj.put(DataElement::new(
            tags::VIEW_CODE_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![view, code]),
        ));
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(vec![3u8, 9]),
        ));
        write_obj(&path, obj);

        let file = std::fs::File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        let mut scanner = Scanner {
            r: std::io::BufReader::new(file),
            pos: 0,
            len,
            skew: 0,
        };
        assert!(matches!(scanner.scan_file(), Ok(Flow::Continue)));
        assert_eq!(scanner.pos, len);
        assert_eq!(luma(&read_dicom(&path, u64::MAX).unwrap()), vec![0, 255]);
    }

    #[test]
    fn ds_formatting_fits_16_chars() {
        assert_eq!(format_ds(40.0).as_deref(), Some("40"));
        assert_eq!(format_ds(-1024.5).as_deref(), Some("-1024.5"));
        for v in [1e-20, 1.0 / 3.0, -123_456_789.125, 6.02e23] {
            let s = format_ds(v).unwrap();
            assert!(s.len() <= 16, "{s}");
            let back: f64 = s.parse().unwrap();
            assert!((back - v).abs() <= v.abs() * 1e-9, "{s} vs {v}");
        }
        assert_eq!(format_ds(f64::INFINITY), None);
    }
}
