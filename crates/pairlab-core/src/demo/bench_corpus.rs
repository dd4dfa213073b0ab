//! Generated corpora for the ingest benchmark: flat same-stem image + report pairs.

use std::path::Path;

use image::{GrayImage, imageops::FilterType};
use rayon::prelude::*;

use super::cases::{self, Case, Rng};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// 256-px greyscale PNGs.
    Small,
    /// 32-px greyscale PNGs: a million pairs fit on a small disk (for memory in N).
    Tiny,
    /// Greyscale JPEGs of 2,500 × 3,000 px, the size of a real chest X-ray.
    Xray,
    /// 16,000 × 16,000 16-bit RGBA PNGs, just under the default pixel limit: 2 GB each
    /// decoded whole, about 2 MB on disk (mostly flat), for the decoding memory bound.
    Huge,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Small => "small",
            Kind::Tiny => "tiny",
            Kind::Xray => "xray",
            Kind::Huge => "huge",
        }
    }
}

/// Writes `n` pairs into `dir` (folders of 1,000). Returns false when `dir` already holds
/// this corpus (kept between runs, since writing it takes a while).
pub fn write(dir: &Path, kind: Kind, n: u32) -> Result<bool> {
    let marker = dir.join(".pairlab-bench");
    let settings = format!("{} {n}\n", kind.name());
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == settings) {
        return Ok(false);
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    (0..n).into_par_iter().try_for_each(|i| -> Result<()> {
        let mut rng = Rng::new(0xbe7c_4000 + u64::from(i));
        let case = Case::random(&mut rng);
        let sub = dir.join(format!("{:04}", i / 1000));
        std::fs::create_dir_all(&sub).map_err(|e| Error::io(&sub, e))?;
        let report = cases::write_report(&case, &mut rng);
        let txt = sub.join(format!("{i:07}.txt"));
        std::fs::write(&txt, report.text).map_err(|e| Error::io(&txt, e))?;
        let (img, ext) = match kind {
            Kind::Small => (cases::render(&case, 256, &mut rng), "png"),
            Kind::Tiny => (cases::render(&case, 32, &mut rng), "png"),
            Kind::Xray => (xray(&case, &mut rng), "jpg"),
            Kind::Huge => {
                let path = sub.join(format!("{i:07}.png"));
                return huge_png(&path, 16_000, i);
            }
        };
        let path = sub.join(format!("{i:07}.{ext}"));
        img.save(&path)
            .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
        Ok(())
    })?;
    std::fs::write(&marker, settings).map_err(|e| Error::io(&marker, e))?;
    Ok(true)
}

/// A 2,500 × 3,000 picture: the synthetic X-ray scaled up, with film-grain noise so that
/// it compresses like a real radiograph rather than a smooth drawing.
fn xray(case: &Case, rng: &mut Rng) -> GrayImage {
    let base = cases::render(case, 1024, rng);
    let mut big = image::imageops::resize(&base, 2500, 3000, FilterType::Triangle);
    let mut state = rng.next_u64() | 1;
    for p in big.pixels_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state % 9) as i16 - 4;
        p.0[0] = (i16::from(p.0[0]) + noise).clamp(0, 255) as u8;
    }
    big
}

/// A `side`² 16-bit RGBA PNG written row by row (never whole in memory): flat but for a
/// band whose place depends on `seed`, so that every file differs.
fn huge_png(path: &Path, side: u32, seed: u32) -> Result<()> {
    let io = |e: std::io::Error| Error::io(path, e);
    let enc_err = |e: png::EncodingError| Error::io(path, std::io::Error::other(e));
    let file = std::fs::File::create(path).map_err(io)?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), side, side);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Sixteen);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().map_err(enc_err)?;
    let mut stream = writer.stream_writer().map_err(enc_err)?;
    let band = (seed * 977) % side;
    let mut row = vec![0u8; side as usize * 8];
    for y in 0..side {
        let v: u16 = if (y / 64) % 97 == band % 97 {
            50_000
        } else {
            12_000
        };
        for px in row.chunks_exact_mut(8) {
            px[..2].copy_from_slice(&v.to_be_bytes());
            px[2..4].copy_from_slice(&v.to_be_bytes());
            px[4..6].copy_from_slice(&v.to_be_bytes());
            px[6..].copy_from_slice(&u16::MAX.to_be_bytes());
        }
        std::io::Write::write_all(&mut stream, &row).map_err(io)?;
    }
    stream.finish().map_err(enc_err)?;
    Ok(())
}
