//! Every image format: dimensions, bit depth, format name and a 256-px thumbnail.

use crate::util::{Env, gray};

fn encode(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, format).expect("encode");
    buf.into_inner()
}

#[test]
fn formats_dimensions_and_thumbnails() {
    let env = Env::new();
    let g = image::DynamicImage::ImageLuma8(gray(600, 300, 1));
    let rgb = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(100, 800, |x, y| {
        image::Rgb([x as u8, y as u8, 128])
    }));
    let g16 = image::DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(50, 40, |x, y| {
        image::Luma([(x * 1000 + y * 10) as u16])
    }));
    env.write("a.tif", encode(&g, image::ImageFormat::Tiff));
    env.write("b.bmp", encode(&rgb, image::ImageFormat::Bmp));
    env.write("c.webp", encode(&rgb, image::ImageFormat::WebP));
    env.write("d.png", encode(&g16, image::ImageFormat::Png));
    env.write("e.jpeg", encode(&rgb, image::ImageFormat::Jpeg));
    env.write("f.png", encode(&g, image::ImageFormat::Png));
    let v = env.index(&[]);
    assert_eq!(v["images"], 6);
    assert_eq!(v["errors"], 0);
    let rows = env.query(
        "SELECT path, format, width, height, bits, photometric, thumb FROM images ORDER BY path",
    );
    let expect = [
        ("a.tif", "tiff", 600, 300, 8, "MONOCHROME2", (256, 128)),
        ("b.bmp", "bmp", 100, 800, 8, "RGB", (32, 256)),
        ("c.webp", "webp", 100, 800, 8, "RGB", (32, 256)),
        ("d.png", "png", 50, 40, 16, "MONOCHROME2", (50, 40)),
        ("e.jpeg", "jpeg", 100, 800, 8, "RGB", (32, 256)),
        ("f.png", "png", 600, 300, 8, "MONOCHROME2", (256, 128)),
    ];
    assert_eq!(rows.len(), expect.len());
    for (row, (path, format, w, h, bits, photo, (tw, th))) in rows.iter().zip(expect) {
        assert_eq!(
            &row[..6],
            &[
                path,
                format,
                &w.to_string(),
                &h.to_string(),
                &bits.to_string(),
                photo
            ],
            "{row:?}"
        );
        let thumb = image::open(env.library.join("thumbs").join(&row[6])).expect("thumbnail");
        assert_eq!((thumb.width(), thumb.height()), (tw, th), "{path}");
    }
    // Same content, same hash: a.tif and f.png differ in bytes but share the dHash.
    let dh = env.query("SELECT dhash FROM images WHERE path IN ('a.tif', 'f.png')");
    assert_eq!(dh[0], dh[1]);
}
