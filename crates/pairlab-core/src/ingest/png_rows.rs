//! Large PNGs read row by row into a reduced copy, so that their thumbnail and dHash need
//! next to no memory whatever their size.

use std::io::Cursor;

use image::DynamicImage;

use super::budget::reserve;
use super::media::{Decoded, Limits, THUMB_SIZE, empty_meta, err};
use super::scan::FileRef;
use super::{ErrorKind, IngestError};

/// Longest side of the copy a large PNG is reduced to while it is read row by row (four
/// times the thumbnail, which is made from it).
const REDUCED: u32 = 4 * THUMB_SIZE;

/// A large, non-interlaced PNG read row by row into a box-averaged copy of at most
/// [`REDUCED`] pixels on its longest side: memory stays at one row plus the copy whatever
/// the image's size (a 16000² 16-bit RGBA PNG is 2 GB decoded whole). `None` for an
/// interlaced PNG, which is decoded whole under the budget. The caller has checked its
/// size against the pixel limit.
pub(super) fn decode_png_rows(
    file: &FileRef,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Option<Decoded>, IngestError> {
    let corrupt =
        |e: png::DecodingError| err(file, ErrorKind::Corrupt, format!("cannot decode PNG: {e}"));
    let mut dec = png::Decoder::new(Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().map_err(corrupt)?;
    let (w, h, interlaced, depth) = {
        let info = reader.info();
        (info.width, info.height, info.interlaced, info.bit_depth)
    };
    if interlaced {
        return Ok(None);
    }
    let (color, out_depth) = reader.output_color_type();
    let sample_bytes: usize = if out_depth == png::BitDepth::Sixteen {
        2
    } else {
        1
    };
    let channels = color.samples();
    let colour = matches!(color, png::ColorType::Rgb | png::ColorType::Rgba);
    let out_ch = if colour { 3 } else { 1 };
    let scale = |v: u32| (u64::from(v) * u64::from(REDUCED) / u64::from(w.max(h))).max(1) as usize;
    let (tw, th) = (scale(w), scale(h));
    let need =
        (tw * th * (out_ch * 8 + 4)) as u64 + u64::from(w) * (channels * sample_bytes) as u64;
    let reserved = reserve(file, need, limits.max_decode_bytes)?;
    let (wu, hu) = (w as usize, h as usize);
    let xs: Vec<usize> = (0..wu).map(|x| x * tw / wu).collect();
    let mut sums = vec![0u64; tw * th * out_ch];
    let mut counts = vec![0u32; tw * th];
    let stride = channels * sample_bytes;
    let mut y = 0usize;
    while let Some(row) = reader.next_row().map_err(corrupt)? {
        if y >= hu {
            break;
        }
        let data = row.data();
        let base = (y * th / hu) * tw;
        for (x, &ox) in xs.iter().enumerate() {
            let px = &data[x * stride..(x + 1) * stride];
            let o = base + ox;
            for c in 0..out_ch {
                let v = if sample_bytes == 2 {
                    u64::from(u16::from_be_bytes([px[2 * c], px[2 * c + 1]]))
                } else {
                    u64::from(px[c])
                };
                sums[o * out_ch + c] += v;
            }
            counts[o] += 1;
        }
        y += 1;
    }
    if y < hu {
        return Err(err(
            file,
            ErrorKind::Corrupt,
            format!("cannot decode PNG: {y} of its {h} rows"),
        ));
    }
    let avg = sums
        .iter()
        .enumerate()
        .map(|(i, &s)| s / u64::from(counts[i / out_ch].max(1)));
    let (tw, th) = (tw as u32, th as u32);
    let bad = || err(file, ErrorKind::Corrupt, "cannot decode PNG: bad size");
    let img = match (sample_bytes, colour) {
        (2, false) => DynamicImage::ImageLuma16(
            image::ImageBuffer::from_raw(tw, th, avg.map(|v| v as u16).collect())
                .ok_or_else(bad)?,
        ),
        (2, true) => DynamicImage::ImageRgb16(
            image::ImageBuffer::from_raw(tw, th, avg.map(|v| v as u16).collect())
                .ok_or_else(bad)?,
        ),
        (_, false) => DynamicImage::ImageLuma8(
            image::ImageBuffer::from_raw(tw, th, avg.map(|v| v as u8).collect()).ok_or_else(bad)?,
        ),
        (_, true) => DynamicImage::ImageRgb8(
            image::ImageBuffer::from_raw(tw, th, avg.map(|v| v as u8).collect()).ok_or_else(bad)?,
        ),
    };
    let bits = match depth {
        png::BitDepth::One => 1,
        png::BitDepth::Two => 2,
        png::BitDepth::Four => 4,
        png::BitDepth::Eight => 8,
        png::BitDepth::Sixteen => 16,
    };
    let mut meta = empty_meta("png", w, h, bits);
    meta.photometric = Some(if colour { "RGB" } else { "MONOCHROME2" }.into());
    Ok(Some((img, meta, Some(reserved))))
}
