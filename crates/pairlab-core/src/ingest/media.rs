//! Reading one image file: hash, dimensions, format, bit depth, perceptual hash and a
//! cached thumbnail. JPEGs are decoded scaled in the DCT domain (1/2..1/8) because only a
//! thumbnail is needed; every size is checked against a pixel limit before decoding.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, GenericImageView, ImageFormat, imageops::FilterType};

use super::dicom;
use super::scan::FileRef;
use super::{ErrorKind, IngestError};

/// Longest side of a thumbnail, in pixels.
pub const THUMB_SIZE: u32 = 256;

/// Size limits that protect ingest from huge files and decompression bombs.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Images with more pixels than this are refused before decoding.
    pub max_pixels: u64,
    /// Image files larger than this are refused before reading.
    pub max_image_bytes: u64,
    /// Report files larger than this are refused before reading.
    pub max_report_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 256 * 1024 * 1024,
            max_image_bytes: 2 * 1024 * 1024 * 1024,
            max_report_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What ingest records about an image.
#[derive(Clone, Debug)]
pub struct ImageMeta {
    pub hash: String,
    pub width: u32,
    pub height: u32,
    pub format: &'static str,
    pub bits: u16,
    pub photometric: Option<String>,
    pub view: Option<String>,
    pub dhash: u64,
    /// Thumbnail path relative to the thumbnail cache.
    pub thumb: Option<String>,
    /// Patient and study ids found in the file itself (DICOM tags).
    pub patient: Option<String>,
    pub study: Option<String>,
    /// A problem worth recording although the image was indexed (e.g. wrong extension).
    pub warning: Option<IngestError>,
}

fn err(file: &FileRef, kind: ErrorKind, message: impl Into<String>) -> IngestError {
    IngestError::new(file.rel.clone(), kind, message)
}

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Png => "png",
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Tiff => "tiff",
        ImageFormat::Bmp => "bmp",
        ImageFormat::WebP => "webp",
        ImageFormat::Gif => "gif",
        _ => "other",
    }
}

fn ext_format(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "png" => "png",
        "jpg" | "jpeg" => "jpeg",
        "tif" | "tiff" => "tiff",
        "bmp" => "bmp",
        "webp" => "webp",
        "dcm" | "dicom" => "dicom",
        _ => return None,
    })
}

fn is_dicom(bytes: &[u8]) -> bool {
    bytes.len() >= 132 && &bytes[128..132] == b"DICM"
}

/// Reads, hashes and decodes one image; writes its thumbnail into `thumbs` (if given and
/// not cached yet).
pub fn process(
    file: &FileRef,
    limits: &Limits,
    thumbs: Option<&Path>,
) -> Result<ImageMeta, IngestError> {
    if file.size == 0 {
        return Err(err(file, ErrorKind::Empty, "empty file (0 bytes)"));
    }
    if file.size > limits.max_image_bytes {
        return Err(err(
            file,
            ErrorKind::TooLarge,
            format!(
                "file is {} bytes, over the limit of {} bytes; skipped",
                file.size, limits.max_image_bytes
            ),
        ));
    }
    let bytes = std::fs::read(&file.abs)
        .map_err(|e| err(file, ErrorKind::Unreadable, format!("cannot read: {e}")))?;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let ext = file.ext();
    let claimed = ext_format(&ext);

    let (decoded, mut meta) = if is_dicom(&bytes) || claimed == Some("dicom") {
        decode_dicom(file, limits)?
    } else {
        decode_raster(file, &bytes, limits, thumb_dims)?
    };
    if claimed.is_some() && claimed != Some(meta.format) {
        meta.warning = Some(err(
            file,
            ErrorKind::Mislabelled,
            format!(
                "extension .{ext} does not match the content, which is {}; indexed as {}",
                meta.format.to_uppercase(),
                meta.format.to_uppercase()
            ),
        ));
    }
    let small = to_8bit(small_version(decoded));
    meta.dhash = dhash(&small);
    if let Some(dir) = thumbs {
        // An image already at thumbnail size in a format every browser shows is its own
        // thumbnail: store its bytes instead of re-encoding them.
        let as_is = meta.width <= THUMB_SIZE
            && meta.height <= THUMB_SIZE
            && meta.bits == 8
            && matches!(meta.format, "png" | "jpeg" | "webp")
            && meta.warning.is_none();
        let written = if as_is {
            write_thumb_bytes(dir, &hash, meta.format, &bytes)
        } else {
            encode_jpeg(&small).and_then(|jpg| write_thumb_bytes(dir, &hash, "jpeg", &jpg))
        };
        meta.thumb = Some(written.map_err(|e| {
            err(
                file,
                ErrorKind::Thumbnail,
                format!("cannot write thumbnail: {e}"),
            )
        })?);
    }
    meta.hash = hash;
    Ok(meta)
}

fn empty_meta(format: &'static str, width: u32, height: u32, bits: u16) -> ImageMeta {
    ImageMeta {
        hash: String::new(),
        width,
        height,
        format,
        bits,
        photometric: None,
        view: None,
        dhash: 0,
        thumb: None,
        patient: None,
        study: None,
        warning: None,
    }
}

fn check_pixels(file: &FileRef, w: u32, h: u32, limits: &Limits) -> Result<(), IngestError> {
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(err(
            file,
            ErrorKind::TooLarge,
            format!(
                "image declares {w}×{h} pixels, over the limit of {} pixels; refused before decoding",
                limits.max_pixels
            ),
        ));
    }
    if w == 0 || h == 0 {
        return Err(err(
            file,
            ErrorKind::Corrupt,
            format!("image declares an empty size {w}×{h}"),
        ));
    }
    Ok(())
}

fn decode_dicom(file: &FileRef, limits: &Limits) -> Result<(DynamicImage, ImageMeta), IngestError> {
    let d = dicom::read_dicom(&file.abs, limits.max_pixels).map_err(|e| {
        let kind = match e {
            dicom::DicomError::TooLarge { .. } => ErrorKind::TooLarge,
            _ => ErrorKind::Dicom,
        };
        err(file, kind, e.to_string())
    })?;
    let mut meta = empty_meta("dicom", d.width, d.height, d.bits_stored);
    meta.photometric = Some(d.photometric);
    meta.view = d.view;
    meta.patient = d.patient_id;
    meta.study = d.study_uid;
    Ok((d.image, meta))
}

fn decode_raster(
    file: &FileRef,
    bytes: &[u8],
    limits: &Limits,
    jpeg_target: fn(u32, u32) -> (u32, u32),
) -> Result<(DynamicImage, ImageMeta), IngestError> {
    let format = image::guess_format(bytes).map_err(|_| {
        err(
            file,
            ErrorKind::Corrupt,
            format!(
                "not a recognised image: the content is no PNG, JPEG, TIFF, BMP, WebP or DICOM (extension .{})",
                file.ext()
            ),
        )
    })?;
    if format == ImageFormat::Jpeg {
        return decode_jpeg(file, bytes, limits, jpeg_target);
    }
    let corrupt = |e: image::ImageError| {
        err(
            file,
            ErrorKind::Corrupt,
            format!("cannot decode {}: {e}", format_name(format).to_uppercase()),
        )
    };
    let reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let (w, h) = reader.into_dimensions().map_err(corrupt)?;
    check_pixels(file, w, h, limits)?;
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut lim = image::Limits::default();
    lim.max_image_width = Some(w);
    lim.max_image_height = Some(h);
    lim.max_alloc = Some(limits.max_pixels.saturating_mul(16));
    reader.limits(lim);
    let img = reader.decode().map_err(corrupt)?;
    let bits = (img.color().bits_per_pixel() / u16::from(img.color().channel_count())).max(1);
    let mut meta = empty_meta(format_name(format), w, h, bits);
    meta.photometric = Some(photometric_of(&img).into());
    Ok((img, meta))
}

fn photometric_of(img: &DynamicImage) -> &'static str {
    if img.color().has_color() {
        "RGB"
    } else {
        "MONOCHROME2"
    }
}

fn decode_jpeg(
    file: &FileRef,
    bytes: &[u8],
    limits: &Limits,
    target: fn(u32, u32) -> (u32, u32),
) -> Result<(DynamicImage, ImageMeta), IngestError> {
    let corrupt =
        |e: jpeg_decoder::Error| err(file, ErrorKind::Corrupt, format!("cannot decode JPEG: {e}"));
    let mut dec = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    dec.read_info().map_err(corrupt)?;
    let info = dec.info().ok_or_else(|| {
        err(
            file,
            ErrorKind::Corrupt,
            "cannot decode JPEG: no frame header",
        )
    })?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    check_pixels(file, w, h, limits)?;
    // Smallest DCT scale (1/8..1) that still covers the target size.
    let (tw, th) = target(w, h);
    let (sw, sh) = dec.scale(tw as u16, th as u16).map_err(corrupt)?;
    let pixels = dec.decode().map_err(corrupt)?;
    if !has_eoi(bytes) {
        return Err(err(
            file,
            ErrorKind::Corrupt,
            "JPEG is truncated (no end-of-image marker)",
        ));
    }
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    use jpeg_decoder::PixelFormat as P;
    let bad = || {
        err(
            file,
            ErrorKind::Corrupt,
            "JPEG pixel data is shorter than its size",
        )
    };
    let (img, bits) = match info.pixel_format {
        P::L8 => (
            DynamicImage::ImageLuma8(image::GrayImage::from_raw(sw, sh, pixels).ok_or_else(bad)?),
            8,
        ),
        P::L16 => {
            let v: Vec<u16> = pixels
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            (
                DynamicImage::ImageLuma16(image::ImageBuffer::from_raw(sw, sh, v).ok_or_else(bad)?),
                16,
            )
        }
        P::RGB24 => (
            DynamicImage::ImageRgb8(image::RgbImage::from_raw(sw, sh, pixels).ok_or_else(bad)?),
            8,
        ),
        P::CMYK32 => {
            let rgb: Vec<u8> = pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = 255 - u32::from(p[3]);
                    [p[0], p[1], p[2]].map(|c| ((255 - u32::from(c)) * k / 255) as u8)
                })
                .collect();
            (
                DynamicImage::ImageRgb8(image::RgbImage::from_raw(sw, sh, rgb).ok_or_else(bad)?),
                8,
            )
        }
    };
    let mut meta = empty_meta("jpeg", w, h, bits);
    meta.photometric = Some(photometric_of(&img).into());
    Ok((img, meta))
}

/// Decodes an indexed image at full resolution (DICOM rescaled and windowed as at ingest),
/// for models whose preprocessing must match their reference.
pub fn decode_full(abs: &Path, limits: &Limits) -> Result<DynamicImage, IngestError> {
    let meta = std::fs::metadata(abs);
    let file = FileRef {
        abs: abs.to_owned(),
        rel: abs.to_string_lossy().replace('\\', "/"),
        size: meta.as_ref().map(|m| m.len()).unwrap_or(0),
        mtime_ns: 0,
    };
    if file.size > limits.max_image_bytes {
        return Err(err(
            &file,
            ErrorKind::TooLarge,
            "file is over the image size limit",
        ));
    }
    let bytes = std::fs::read(abs)
        .map_err(|e| err(&file, ErrorKind::Unreadable, format!("cannot read: {e}")))?;
    let (img, _) = if is_dicom(&bytes) || ext_format(&file.ext()) == Some("dicom") {
        decode_dicom(&file, limits)?
    } else {
        decode_raster(&file, &bytes, limits, |w, h| (w, h))?
    };
    Ok(img)
}

/// True when the JPEG ends with an EOI marker (allowing a little trailing padding).
fn has_eoi(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// The size of an image's thumbnail: longest side THUMB_SIZE, never enlarged.
fn thumb_dims(w: u32, h: u32) -> (u32, u32) {
    let longest = w.max(h);
    if longest <= THUMB_SIZE {
        return (w, h);
    }
    let scale = |v: u32| {
        ((u64::from(v) * u64::from(THUMB_SIZE)).div_ceil(u64::from(longest))).max(1) as u32
    };
    (scale(w), scale(h))
}

/// Shrinks to at most THUMB_SIZE on the longest side.
fn small_version(img: DynamicImage) -> DynamicImage {
    let (w, h) = img.dimensions();
    if w <= THUMB_SIZE && h <= THUMB_SIZE {
        img
    } else {
        img.thumbnail(THUMB_SIZE, THUMB_SIZE)
    }
}

/// 8-bit grey or RGB; 16-bit grey is stretched over its own range (X-rays rarely use all
/// 16 bits, and a plain shift would leave them black).
fn to_8bit(img: DynamicImage) -> DynamicImage {
    match img {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => img,
        DynamicImage::ImageLuma16(g) => {
            let (lo, hi) = g.pixels().fold((u16::MAX, 0u16), |(lo, hi), p| {
                (lo.min(p.0[0]), hi.max(p.0[0]))
            });
            let span = f32::from(hi.saturating_sub(lo)).max(1.0);
            let (w, h) = g.dimensions();
            let data = g
                .into_raw()
                .into_iter()
                .map(|v| ((f32::from(v.saturating_sub(lo)) * 255.0 / span).round()) as u8)
                .collect();
            image::GrayImage::from_raw(w, h, data)
                .map(DynamicImage::ImageLuma8)
                .unwrap_or_else(|| DynamicImage::new_luma8(w, h))
        }
        other if other.color().has_color() => DynamicImage::ImageRgb8(other.to_rgb8()),
        other => DynamicImage::ImageLuma8(other.to_luma8()),
    }
}

/// 64-bit difference hash: 9×8 grey, one bit per horizontally adjacent pair.
pub fn dhash(img: &DynamicImage) -> u64 {
    let grey = img.to_luma8();
    let small = image::imageops::resize(&grey, 9, 8, FilterType::Triangle);
    let mut bits = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            let left = small.get_pixel(x, y).0[0];
            let right = small.get_pixel(x + 1, y).0[0];
            bits = (bits << 1) | u64::from(left > right);
        }
    }
    bits
}

fn encode_jpeg(img: &DynamicImage) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(16 * 1024);
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 85);
    img.write_with_encoder(enc).map_err(std::io::Error::other)?;
    Ok(buf)
}

/// Stores an encoded thumbnail as `<dir>/<h0h1>/<hash>.<ext>` unless it exists; returns
/// the path relative to `dir`.
fn write_thumb_bytes(
    dir: &Path,
    hash: &str,
    format: &str,
    bytes: &[u8],
) -> std::io::Result<String> {
    let ext = if format == "jpeg" { "jpg" } else { format };
    let rel = format!("{}/{hash}.{ext}", &hash[..2]);
    let path = dir.join(&rel);
    if path.exists() {
        return Ok(rel);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Write to a private temporary name, then rename: a crash never leaves half a file,
    // and two workers writing the same thumbnail (duplicate images) never collide. The
    // temporary files live in one folder, named by process, so that what a killed run
    // left behind is found without listing every thumbnail (`clean_stale_tmp`).
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp_dir = dir.join(TMP_DIR);
    std::fs::create_dir_all(&tmp_dir)?;
    let tmp = tmp_dir.join(format!("{hash}.{ext}.{}-{n}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    if let Err(e) = std::fs::rename(&tmp, &path) {
        std::fs::remove_file(&tmp).ok();
        return Err(e);
    }
    Ok(rel)
}

/// Where thumbnails are written before they are renamed into place.
const TMP_DIR: &str = ".tmp";

/// Removes the temporary thumbnails of processes that are gone (an index run killed while
/// writing them); returns how many. Those of running processes are left alone.
pub fn clean_stale_tmp(thumbs: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(thumbs.join(TMP_DIR)) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_suffix(".tmp")
            .and_then(|n| n.rsplit_once('.'))
            .and_then(|(_, tail)| tail.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        let alive = pid
            .is_some_and(|p| p == std::process::id() || Path::new(&format!("/proc/{p}")).exists());
        if !alive && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn sixteen_bit_is_stretched() {
        let g: image::ImageBuffer<image::Luma<u16>, Vec<u16>> =
            image::ImageBuffer::from_fn(2, 1, |x, _| image::Luma([1000 + x as u16 * 3000]));
        let out = to_8bit(DynamicImage::ImageLuma16(g)).to_luma8();
        assert_eq!(out.as_raw(), &vec![0u8, 255]);
    }
}
