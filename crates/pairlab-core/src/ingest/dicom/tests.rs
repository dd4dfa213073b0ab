//! Round-trip tests: files written by [`write_dicom`] read back through
//! [`read_dicom`], plus the writer's own checks.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use dicom_dictionary_std::{tags, uids};
use dicom_pixeldata::PixelDecoder;

use super::write::format_ds;
use super::{DicomError, DicomImage, DicomPixels, DicomSpec, read_dicom, write_dicom};

pub(super) fn spec(
    width: u32,
    height: u32,
    pixels: DicomPixels,
    photometric: &str,
) -> DicomSpec<'_> {
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

pub(super) fn luma(img: &DicomImage) -> Vec<u8> {
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
