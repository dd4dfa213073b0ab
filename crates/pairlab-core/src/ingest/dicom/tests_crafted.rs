//! Reader tests on hand-built and corrupted files: data sets the writer
//! cannot produce, truncations, bad lengths and deep nesting.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::path::Path;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;

use super::precheck::{Flow, Scanner};
use super::tests::{luma, spec};
use super::{DicomError, DicomPixels, read_dicom, write_dicom};

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
