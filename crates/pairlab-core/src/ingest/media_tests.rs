//! Tests of reading one image: hashes, 16-bit stretching, large PNGs, the decoding budget.

use super::*;

#[test]
fn dhash_tells_images_apart_and_is_stable() {
    let grad = DynamicImage::ImageLuma8(image::GrayImage::from_fn(64, 64, |x, _| {
        image::Luma([(x * 4) as u8])
    }));
    let flipped = DynamicImage::ImageLuma8(image::GrayImage::from_fn(64, 64, |x, _| {
        image::Luma([255 - (x * 4) as u8])
    }));
    assert_eq!(dhash(&grad), 0);
    assert_eq!(dhash(&flipped), u64::MAX);
    assert_eq!(
        dhash(&grad),
        dhash(&grad.resize(32, 32, FilterType::Triangle))
    );
}

/// A PNG of `w`×`h` 16-bit RGBA pixels: a left-to-right ramp in red, the rest flat.
fn rgba16_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Sixteen);
        enc.set_compression(png::Compression::Fast);
        let mut writer = enc.write_header().expect("header");
        let mut stream = writer.stream_writer().expect("stream");
        let row: Vec<u8> = (0..w)
            .flat_map(|x| {
                let r = ((u64::from(x) * 65535) / u64::from(w - 1)) as u16;
                [
                    r.to_be_bytes(),
                    30000u16.to_be_bytes(),
                    30000u16.to_be_bytes(),
                    [255, 255],
                ]
                .concat()
            })
            .collect();
        for _ in 0..h {
            std::io::Write::write_all(&mut stream, &row).expect("row");
        }
        stream.finish().expect("finish");
    }
    out
}

fn file_of(dir: &Path, name: &str, bytes: &[u8]) -> FileRef {
    let abs = dir.join(name);
    std::fs::write(&abs, bytes).expect("write");
    FileRef::stat(abs, name.into()).expect("stat")
}

/// A PNG larger than the row-by-row threshold (3000² 16-bit RGBA: 72 MB decoded) is
/// indexed within a decoding budget far below its decoded size, with its own size and
/// depth and a thumbnail that keeps its content (the ramp runs left to right).
#[test]
fn a_large_png_is_read_row_by_row_within_a_small_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = file_of(dir.path(), "big.png", &rgba16_png(3000, 3000));
    let limits = Limits {
        max_decode_bytes: 40 << 20,
        ..Limits::default()
    };
    let meta = process(&file, &limits, Some(dir.path())).expect("indexed");
    assert_eq!((meta.width, meta.height, meta.bits), (3000, 3000, 16));
    assert_eq!(meta.photometric.as_deref(), Some("RGB"));
    let thumb = image::open(dir.path().join(meta.thumb.expect("thumb"))).expect("thumb");
    assert_eq!(thumb.dimensions(), (THUMB_SIZE, THUMB_SIZE));
    let rgb = thumb.to_rgb8();
    let (left, right) = (rgb.get_pixel(2, 128).0[0], rgb.get_pixel(253, 128).0[0]);
    assert!(left < 20 && right > 235, "red ramp kept: {left} .. {right}");
}

/// An image that alone needs more than the whole budget to decode is an error row.
#[test]
fn an_image_needing_more_than_the_budget_is_an_error_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let img = image::RgbaImage::from_pixel(1200, 1000, image::Rgba([9, 9, 9, 255]));
    let mut tiff = Vec::new();
    img.write_to(&mut Cursor::new(&mut tiff), ImageFormat::Tiff)
        .expect("tiff");
    let file = file_of(dir.path(), "big.tiff", &tiff);
    let limits = Limits {
        max_decode_bytes: 4 << 20,
        ..Limits::default()
    };
    let e = process(&file, &limits, None).expect_err("refused");
    assert_eq!(e.kind.name(), "too_large");
    assert!(
        e.message.contains("decoding memory budget of 4 MiB"),
        "{}",
        e.message
    );
    assert!(process(&file, &Limits::default(), None).is_ok());
}

/// A DICOM reserves its share too: over a small budget it is an error row, under the
/// default it is indexed.
#[test]
fn a_dicom_needing_more_than_the_budget_is_an_error_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.dcm");
    let spec = dicom::DicomSpec {
        width: 1200,
        height: 1000,
        pixels: dicom::DicomPixels::Mono16(vec![900; 1_200_000]),
        photometric: "MONOCHROME2",
        rescale: None,
        window: None,
        patient_id: None,
        study_uid: None,
        view: None,
    };
    dicom::write_dicom(&path, &spec).expect("dicom");
    let file = FileRef::stat(path, "x.dcm".into()).expect("stat");
    let small = Limits {
        max_decode_bytes: 4 << 20,
        ..Limits::default()
    };
    let e = process(&file, &small, None).expect_err("refused");
    assert!(
        e.message.contains("decoding memory budget"),
        "{}",
        e.message
    );
    let meta = process(&file, &Limits::default(), None).expect("indexed");
    assert_eq!((meta.width, meta.height), (1200, 1000));
}

#[test]
fn sixteen_bit_is_stretched() {
    let g: image::ImageBuffer<image::Luma<u16>, Vec<u16>> =
        image::ImageBuffer::from_fn(2, 1, |x, _| image::Luma([1000 + x as u16 * 3000]));
    let out = to_8bit(DynamicImage::ImageLuma16(g)).to_luma8();
    assert_eq!(out.as_raw(), &vec![0u8, 255]);
}
