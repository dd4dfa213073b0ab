//! DICOM written with dicom-rs in the test: metadata, ids from tags, MONOCHROME1 inversion
//! and rescale/window applied to the thumbnail.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;

use crate::util::Env;

/// A 64×64 16-bit MONOCHROME1 DX image: left half stored value 100, right half 3000.
fn write_dx(path: &std::path::Path, patient: &str, study: &str, window: Option<(&str, &str)>) {
    let s = |tag, vr, v: &str| DataElement::new(tag, vr, PrimitiveValue::from(v));
    let u = |tag, v: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(v));
    let pixels: Vec<u16> = (0..64 * 64)
        .map(|i| if i % 64 < 32 { 100 } else { 3000 })
        .collect();
    let sop = "1.2.826.0.1.3680043.10.999.1";
    let mut obj = InMemDicomObject::from_element_iter([
        s(
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
        ),
        s(tags::SOP_INSTANCE_UID, VR::UI, sop),
        s(tags::MODALITY, VR::CS, "DX"),
        s(tags::PATIENT_ID, VR::LO, patient),
        s(tags::STUDY_INSTANCE_UID, VR::UI, study),
        s(tags::VIEW_POSITION, VR::CS, "PA"),
        u(tags::SAMPLES_PER_PIXEL, 1),
        s(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME1"),
        u(tags::ROWS, 64),
        u(tags::COLUMNS, 64),
        u(tags::BITS_ALLOCATED, 16),
        u(tags::BITS_STORED, 12),
        u(tags::HIGH_BIT, 11),
        u(tags::PIXEL_REPRESENTATION, 0),
        s(tags::RESCALE_SLOPE, VR::DS, "1"),
        s(tags::RESCALE_INTERCEPT, VR::DS, "-1024"),
        DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(dicom_core::smallvec::SmallVec::from_vec(pixels)),
        ),
    ]);
    if let Some((center, width)) = window {
        obj.put(s(tags::WINDOW_CENTER, VR::DS, center));
        obj.put(s(tags::WINDOW_WIDTH, VR::DS, width));
    }
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .media_storage_sop_class_uid(uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION)
            .media_storage_sop_instance_uid(sop),
    )
    .expect("meta")
    .write_to_file(path)
    .expect("write dicom");
}

fn thumb_mean(env: &Env, path: &str, left: bool) -> f64 {
    let rel = env.query(&format!("SELECT thumb FROM images WHERE path = '{path}'"));
    let img = image::open(env.library.join("thumbs").join(&rel[0][0]))
        .expect("thumb")
        .to_luma8();
    let xs: Vec<u32> = if left {
        (4..24).collect()
    } else {
        (40..60).collect()
    };
    let sum: u64 = xs
        .iter()
        .flat_map(|&x| (4..60).map(move |y| (x, y)))
        .map(|(x, y)| u64::from(img.get_pixel(x, y).0[0]))
        .sum();
    sum as f64 / (xs.len() * 56) as f64
}

#[test]
fn dicom_metadata_ids_and_display_pixels() {
    let env = Env::new();
    write_dx(&env.path("scans/auto window.dcm"), "PAT-7", "1.2.3.4", None);
    env.write("scans/auto window.txt", "FINDINGS: Clear.");
    // Window centred on the left half's value (100 - 1024 = -924): left mid grey, right
    // far above the window, so white before MONOCHROME1 inversion, black after.
    write_dx(
        &env.path("scans/windowed.dcm"),
        "PAT-8",
        "1.2.3.5",
        Some(("-924", "200")),
    );
    let v = env.index(&[]);
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["pairs"], 1);
    assert_eq!(v["images"], 2);
    let rows = env.query(
        "SELECT i.path, i.format, i.width, i.height, i.bits, i.photometric, i.view, pt.key, s.key
         FROM pairs p JOIN images i ON i.id = p.image_id JOIN patients pt ON pt.id = p.patient_id
         JOIN studies s ON s.id = p.study_id ORDER BY i.path",
    );
    assert_eq!(
        rows,
        vec![
            vec![
                "scans/auto window.dcm",
                "dicom",
                "64",
                "64",
                "12",
                "MONOCHROME1",
                "PA",
                "PAT-7",
                "1.2.3.4"
            ],
            vec![
                "scans/windowed.dcm",
                "dicom",
                "64",
                "64",
                "12",
                "MONOCHROME1",
                "PA",
                "PAT-8",
                "1.2.3.5"
            ],
        ]
    );
    // Auto window over the pixel range, then inverted: low values bright, high values dark.
    let (l, r) = (
        thumb_mean(&env, "scans/auto window.dcm", true),
        thumb_mean(&env, "scans/auto window.dcm", false),
    );
    assert!(l > 240.0 && r < 15.0, "auto window: left {l}, right {r}");
    // The file's window: the left half sits at the centre (mid grey), the right is clipped.
    let (l, r) = (
        thumb_mean(&env, "scans/windowed.dcm", true),
        thumb_mean(&env, "scans/windowed.dcm", false),
    );
    assert!(
        (100.0..156.0).contains(&l) && r < 15.0,
        "file window: left {l}, right {r}"
    );
}

#[test]
fn layout_ids_win_over_dicom_tags() {
    let env = Env::new();
    write_dx(
        &env.path("files/p10/p10000001/s50000001/view.dcm"),
        "TAG-PATIENT",
        "9.9.9",
        None,
    );
    env.write("files/p10/p10000001/s50000001.txt", "IMPRESSION: Normal.");
    let v = env.index(&[]);
    assert_eq!(v["layout"], "mimic");
    assert_eq!(v["pairs"], 1);
    let ids = env.query(
        "SELECT pt.key, s.key FROM pairs p JOIN patients pt ON pt.id = p.patient_id
         JOIN studies s ON s.id = p.study_id",
    );
    assert_eq!(ids, vec![vec!["10000001", "50000001"]]);
}
