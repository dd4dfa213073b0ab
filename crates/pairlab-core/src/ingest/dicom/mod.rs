//! DICOM ingestion: read a Part-10 file into display-ready 8-bit pixels,
//! and write simple secondary-capture style files (used by tests and fixtures).
//!
//! Reading uses `dicom-object` for parsing. For native (uncompressed) pixel
//! data the PixelData element is read directly; for encapsulated (compressed)
//! transfer syntaxes `dicom-pixeldata` is used only to obtain the decompressed
//! stored values of the first frame. The grey-level mapping (modality
//! rescale, VOI window, MONOCHROME1 inversion) is done here so that it is
//! exact and predictable.
//!
//! Layout: this file holds the public types, [`read_dicom`] and the header
//! helpers; `pixels` maps stored samples to 8 bits, `precheck` validates the
//! element structure before dicom-rs allocates, `write` writes files.

mod pixels;
mod precheck;
mod write;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_crafted;

use std::borrow::Cow;
use std::path::Path;

use dicom_core::{DicomValue, PrimitiveValue, Tag};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::PixelDecoder;

use pixels::{SampleLayout, Samples, map_monochrome, read_rescale, read_window};
use precheck::check_structure;
pub use write::write_dicom;

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

/// A DICOM file's size from its header alone (columns, rows, frames), without reading
/// its pixels: what decoding it will need, for the decoding memory budget.
pub fn dicom_size(path: &Path) -> Result<(u32, u32, u64), DicomError> {
    // The same structural scan first as when decoding: corrupt length fields must not
    // make the header pass allocate gigabytes either.
    std::panic::catch_unwind(|| {
        check_structure(path)?;
        header_size(path)
    })
    .unwrap_or_else(|_| {
        Err(DicomError::Parse(format!(
            "{}: internal error while parsing (panic caught)",
            path.display()
        )))
    })
    .map(|(rows, cols, frames)| (u32::from(cols), u32::from(rows), frames))
}

/// Rows, columns and frames from the header, read up to (not including) the pixel data.
fn header_size(path: &Path) -> Result<(u16, u16, u64), DicomError> {
    let header = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| DicomError::Parse(format!("{}: {}", path.display(), e)))?;
    let rows = require_u16(&header, tags::ROWS, "Rows")?;
    let cols = require_u16(&header, tags::COLUMNS, "Columns")?;
    Ok((rows, cols, number_of_frames(&header)))
}

fn read_dicom_inner(path: &Path, max_pixels: u64) -> Result<DicomImage, DicomError> {
    // Pass 0: a cheap structural scan, so that corrupt length fields cannot
    // make the parser allocate (and zero-fill) gigabytes for a small file.
    check_structure(path)?;

    // Pass 1: header only, stopping before PixelData, so that oversized
    // images are refused without reading or decoding their pixels.
    let (rows, cols, frames) = header_size(path)?;
    let total = u64::from(rows) * u64::from(cols) * frames;
    if total > max_pixels {
        return Err(DicomError::TooLarge {
            width: u32::from(cols),
            height: u32::from(rows),
            limit: max_pixels,
        });
    }

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
    let stored = Stored {
        bits_allocated,
        bits_stored,
        high_bit,
        signed,
    };

    let (samples, effective_photometric, spp, planar) =
        first_frame_samples(obj, &photometric, samples_per_pixel, planar)?;

    let width = u32::from(cols);
    let height = u32::from(rows);

    let image = match effective_photometric.as_str() {
        "MONOCHROME1" | "MONOCHROME2" => monochrome_image(
            obj,
            &samples,
            &effective_photometric,
            spp,
            &stored,
            width,
            height,
        )?,
        "RGB" => rgb_image(&samples, spp, bits_allocated, planar, width, height)?,
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

/// How the stored samples are encoded (BitsAllocated, BitsStored, HighBit, PixelRepresentation).
struct Stored {
    bits_allocated: u16,
    bits_stored: u16,
    high_bit: Option<u16>,
    signed: bool,
}

/// The raw stored samples of (at least) the first frame, with the photometric
/// interpretation, samples per pixel and planar configuration that hold for them (a
/// compressed frame's decoder may change them).
fn first_frame_samples<'a>(
    obj: &'a DefaultDicomObject,
    photometric: &str,
    samples_per_pixel: u16,
    planar: u16,
) -> Result<(Samples<'a>, String, u16, u16), DicomError> {
    let pixel_elem = obj
        .get(tags::PIXEL_DATA)
        .ok_or_else(|| DicomError::Pixels("no PixelData (7FE0,0010) element".into()))?;

    // Obtain raw stored samples of (at least) the first frame.
    match pixel_elem.value() {
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
            Ok((samples, photometric.to_owned(), samples_per_pixel, planar))
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
            Ok((
                Samples::Bytes(Cow::Owned(decoded.into_data())),
                pi,
                spp,
                planar,
            ))
        }
        DicomValue::Sequence(_) => Err(DicomError::Pixels(
            "PixelData is a sequence of items, not pixel samples".into(),
        )),
    }
}

/// Maps monochrome samples to 8-bit grey (rescale, window, MONOCHROME1 inverted).
fn monochrome_image(
    obj: &DefaultDicomObject,
    samples: &Samples<'_>,
    photometric: &str,
    spp: u16,
    stored: &Stored,
    width: u32,
    height: u32,
) -> Result<image::DynamicImage, DicomError> {
    if spp != 1 {
        return Err(DicomError::Pixels(format!(
            "{photometric} with SamplesPerPixel {spp} (expected 1)"
        )));
    }
    let npix = width as usize * height as usize;
    let layout = SampleLayout::new(
        stored.bits_allocated,
        stored.bits_stored,
        stored.high_bit,
        stored.signed,
    )?;
    samples.check_len(npix, stored.bits_allocated)?;
    let rescale = read_rescale(obj)?;
    let window = read_window(obj);
    let mut out = map_monochrome(samples, npix, &layout, rescale, window);
    if photometric == "MONOCHROME1" {
        for v in &mut out {
            *v = 255 - *v;
        }
    }
    let buf = image::GrayImage::from_raw(width, height, out)
        .ok_or_else(|| DicomError::Pixels("internal error: grey buffer size mismatch".into()))?;
    Ok(image::DynamicImage::ImageLuma8(buf))
}

/// Copies 3 × 8-bit RGB samples (interleaved or planar) into an RGB image.
fn rgb_image(
    samples: &Samples<'_>,
    spp: u16,
    bits_allocated: u16,
    planar: u16,
    width: u32,
    height: u32,
) -> Result<image::DynamicImage, DicomError> {
    if spp != 3 || bits_allocated != 8 {
        return Err(DicomError::Pixels(format!(
            "unsupported RGB layout: SamplesPerPixel {spp}, BitsAllocated {bits_allocated} \
             (only 3 × 8-bit is supported)"
        )));
    }
    let npix = width as usize * height as usize;
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
    let buf = image::RgbImage::from_raw(width, height, out)
        .ok_or_else(|| DicomError::Pixels("internal error: RGB buffer size mismatch".into()))?;
    Ok(image::DynamicImage::ImageRgb8(buf))
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
