//! Writing simple Part-10 files (secondary capture style), used by tests and
//! fixtures.

use std::path::Path;

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;

use super::{DicomError, DicomPixels, DicomSpec};

/// Writes a valid Part-10 file (explicit VR little endian, Secondary Capture
/// Image Storage with CR/DX-style attributes, file meta group, fresh SOP
/// instance / series (and study, unless given) UIDs) that [`read_dicom`](super::read_dicom) and
/// other DICOM readers accept.
///
/// Invalid specs (pixel count not matching width×height, unknown or
/// mismatched photometric, non-finite rescale/window) are refused with
/// [`DicomError::Pixels`]; I/O failures are reported as [`DicomError::Parse`].
pub fn write_dicom(path: &Path, spec: &DicomSpec) -> Result<(), DicomError> {
    let (is_mono, samples_per_pixel, bits) = check_pixels(spec)?;

    let sop_class = uids::SECONDARY_CAPTURE_IMAGE_STORAGE;
    let sop_instance = new_uid();
    let series_uid = new_uid();
    let study_uid = match spec.study_uid {
        Some(uid) => uid.to_string(),
        None => new_uid(),
    };

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
    if let Some(rescale) = spec.rescale {
        put_rescale(&mut obj, rescale, is_mono)?;
    }
    if let Some(window) = spec.window {
        put_window(&mut obj, window, is_mono)?;
    }
    obj.put(pixel_data(&spec.pixels));

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

/// The refusal of a spec that cannot be written.
fn invalid(msg: String) -> DicomError {
    DicomError::Pixels(format!("cannot write DICOM: {msg}"))
}

/// A string-valued element.
fn str_el(tag: Tag, vr: VR, s: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(s))
}

/// An unsigned short (US) element.
fn us_el(tag: Tag, v: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(v))
}

/// Checks the spec's size, sample count and photometric; returns whether the image is
/// monochrome, its samples per pixel and its bits per sample.
fn check_pixels(spec: &DicomSpec) -> Result<(bool, u16, u16), DicomError> {
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
    Ok((is_mono, samples_per_pixel, bits))
}

/// Puts the modality rescale (slope, intercept); monochrome images only.
fn put_rescale(
    obj: &mut InMemDicomObject,
    (slope, intercept): (f64, f64),
    is_mono: bool,
) -> Result<(), DicomError> {
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
        &format_ds(slope).ok_or_else(|| invalid(format!("rescale slope {slope} is not finite")))?,
    ));
    obj.put(str_el(tags::RESCALE_TYPE, VR::LO, "US"));
    Ok(())
}

/// Puts the VOI window (center, width); monochrome images only, width at least 1.
fn put_window(
    obj: &mut InMemDicomObject,
    (center, width): (f64, f64),
    is_mono: bool,
) -> Result<(), DicomError> {
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
        &format_ds(width).ok_or_else(|| invalid(format!("window width {width} is not finite")))?,
    ));
    Ok(())
}

/// The PixelData element: OB for 8-bit samples, OW for 16-bit.
fn pixel_data(pixels: &DicomPixels) -> DataElement<InMemDicomObject> {
    match pixels {
        DicomPixels::Mono8(v) | DicomPixels::Rgb8(v) => {
            DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(v.clone()))
        }
        DicomPixels::Mono16(v) => DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(dicom_core::smallvec::SmallVec::from_vec(v.clone())),
        ),
    }
}

/// Formats a decimal string (DS, at most 16 characters).
pub(super) fn format_ds(v: f64) -> Option<String> {
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
