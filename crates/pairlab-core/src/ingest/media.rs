//! Reading one image file: hash, dimensions, format, bit depth, perceptual hash and a
//! cached thumbnail. JPEGs are decoded scaled in the DCT domain (1/2..1/8) because only a
//! thumbnail is needed; every size is checked against a pixel limit before decoding.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, GenericImageView, ImageFormat, imageops::FilterType};

use super::budget::{Reserved, reserve};
use super::dicom;
use super::png_rows::decode_png_rows;
use super::scan::FileRef;
use super::thumbs::write_thumb_bytes;
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
    /// Decoded images held at once by all indexing workers together, in bytes: a large
    /// image takes the share of several (workers wait for it), and one that alone needs
    /// more is an error row instead of an out-of-memory. Large PNGs are read row by row
    /// and need next to nothing.
    pub max_decode_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 256 * 1024 * 1024,
            max_image_bytes: 2 * 1024 * 1024 * 1024,
            max_report_bytes: 16 * 1024 * 1024,
            max_decode_bytes: 1024 * 1024 * 1024,
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

pub(super) fn err(file: &FileRef, kind: ErrorKind, message: impl Into<String>) -> IngestError {
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

    let (decoded, mut meta, reserved) = if is_dicom(&bytes) || claimed == Some("dicom") {
        // The whole file is parsed and its pixels decoded, rescaled and windowed: reserve
        // the file and four bytes per pixel of every frame, from the header alone (a
        // header that cannot be read is reported by the decoder itself).
        let reserved = match dicom::dicom_size(&file.abs) {
            // Over the pixel limit: the decoder refuses it with that reason.
            Ok((w, h, frames))
                if u64::from(w) * u64::from(h) * frames.max(1) > limits.max_pixels =>
            {
                None
            }
            Ok((w, h, frames)) => Some(reserve(
                file,
                file.size + u64::from(w) * u64::from(h) * frames.max(1) * 4,
                limits.max_decode_bytes,
            )?),
            Err(_) => None,
        };
        let (img, meta) = decode_dicom(file, limits)?;
        (img, meta, reserved)
    } else {
        decode_raster(file, &bytes, limits, Size::Thumbnail)?
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
    // The full-size image is gone: its share of the budget goes back.
    drop(reserved);
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

pub(super) fn empty_meta(format: &'static str, width: u32, height: u32, bits: u16) -> ImageMeta {
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

pub(super) fn check_pixels(
    file: &FileRef,
    w: u32,
    h: u32,
    limits: &Limits,
) -> Result<(), IngestError> {
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

/// A decoded image, what ingest records of it, and the budget share it holds.
pub(super) type Decoded = (DynamicImage, ImageMeta, Option<Reserved>);

/// PNGs larger than this decoded are read row by row instead of whole.
const STREAM_PNG_ABOVE: u64 = 64 << 20;

/// What an image is decoded for: its thumbnail and dHash (ingest), or a model's input at
/// full resolution (`decode_full`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Size {
    Thumbnail,
    Full,
}

fn decode_raster(
    file: &FileRef,
    bytes: &[u8],
    limits: &Limits,
    size: Size,
) -> Result<Decoded, IngestError> {
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
        return decode_jpeg(file, bytes, limits, size);
    }
    let corrupt = |e: image::ImageError| {
        err(
            file,
            ErrorKind::Corrupt,
            format!("cannot decode {}: {e}", format_name(format).to_uppercase()),
        )
    };
    let reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let decoder = reader.into_decoder().map_err(corrupt)?;
    let (w, h) = image::ImageDecoder::dimensions(&decoder);
    let pixel_bytes = u64::from(image::ImageDecoder::color_type(&decoder).bytes_per_pixel());
    drop(decoder);
    check_pixels(file, w, h, limits)?;
    let whole = u64::from(w) * u64::from(h) * pixel_bytes;
    // A thumbnail of a large PNG is made from reduced rows, not the whole image.
    if format == ImageFormat::Png
        && size == Size::Thumbnail
        && whole > STREAM_PNG_ABOVE
        && let Some(decoded) = decode_png_rows(file, bytes, limits)?
    {
        return Ok(decoded);
    }
    // The decoded pixels, and half as much again for the decoder's own buffers.
    let need = whole * 3 / 2;
    let reserved = reserve(file, need, limits.max_decode_bytes)?;
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
    Ok((img, meta, Some(reserved)))
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
    size: Size,
) -> Result<Decoded, IngestError> {
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
    // A progressive JPEG keeps every coefficient while it decodes, whatever the scale:
    // reserve a byte per pixel and component.
    let components: u64 = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::L16 => 2,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        jpeg_decoder::PixelFormat::CMYK32 => 4,
    };
    let reserved = reserve(
        file,
        u64::from(w) * u64::from(h) * components,
        limits.max_decode_bytes,
    )?;
    // Smallest DCT scale (1/8..1) that still covers the target size.
    let (tw, th) = match size {
        Size::Thumbnail => thumb_dims(w, h),
        Size::Full => (w, h),
    };
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
    Ok((img, meta, Some(reserved)))
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
    let img = if is_dicom(&bytes) || ext_format(&file.ext()) == Some("dicom") {
        decode_dicom(&file, limits)?.0
    } else {
        decode_raster(&file, &bytes, limits, Size::Full)?.0
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

#[cfg(test)]
#[path = "media_tests.rs"]
mod tests;
