//! Structural pre-check: walks the element headers of a file and refuses
//! lengths that cannot fit in it (or absurd nesting) before dicom-rs
//! allocates buffers for them.

use std::path::Path;

use dicom_core::{Tag, VR};

use super::DicomError;

/// Maximum sequence nesting accepted (real files nest a handful of levels;
/// the parser recurses per level, so unbounded nesting could overflow the
/// stack).
const MAX_NESTING: u32 = 64;

/// Walks the element headers of the file (without reading values) and
/// rejects lengths that run past the end of the file or absurd nesting.
///
/// dicom-rs reserves and zero-fills a buffer of the declared length before
/// reading a value, so a single corrupt length field in a tiny file costs up
/// to 4 GiB of memory. Every length rejected here would make the real parse
/// fail anyway, so this adds no false negatives for valid files; whenever the
/// scan does not understand something it stops and leaves the verdict to
/// dicom-rs.
pub(super) fn check_structure(path: &Path) -> Result<(), DicomError> {
    let parse_err = |msg: String| DicomError::Parse(format!("{}: {}", path.display(), msg));
    let file = std::fs::File::open(path).map_err(|e| parse_err(e.to_string()))?;
    let len = file.metadata().map_err(|e| parse_err(e.to_string()))?.len();
    let mut scanner = Scanner {
        r: std::io::BufReader::new(file),
        pos: 0,
        len,
        skew: 0,
    };
    match scanner.scan_file() {
        Ok(_) => Ok(()),
        Err(ScanError::Io(e)) => Err(parse_err(e.to_string())),
        Err(ScanError::Corrupt(msg)) => Err(parse_err(msg)),
    }
}

pub(super) enum ScanError {
    Io(std::io::Error),
    Corrupt(String),
}

impl From<std::io::Error> for ScanError {
    fn from(e: std::io::Error) -> Self {
        ScanError::Io(e)
    }
}

/// `Continue`: this part was understood; `GiveUp`: stop scanning, no verdict.
#[derive(PartialEq)]
pub(super) enum Flow {
    Continue,
    GiveUp,
}

#[derive(Clone, Copy)]
struct Mode {
    explicit: bool,
    big_endian: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum DatasetEnd {
    /// top level: ends at end of file
    Eof,
    /// undefined-length item: ends with an item delimiter
    Delimiter,
    /// defined-length item
    At(u64),
}

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_DELIMITER: (u16, u16) = (0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: (u16, u16) = (0xFFFE, 0xE0DD);

pub(super) struct Scanner<R> {
    pub(super) r: R,
    /// bytes actually consumed
    pub(super) pos: u64,
    /// file size
    pub(super) len: u64,
    /// how far dicom-rs' position counter runs ahead of `pos` (see
    /// `scan_dataset`); defined-length items end by that counter
    pub(super) skew: u64,
}

impl<R: std::io::Read + std::io::Seek> Scanner<R> {
    fn logical(&self) -> u64 {
        self.pos + self.skew
    }

    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn read_bytes<const N: usize>(&mut self) -> Result<Option<[u8; N]>, ScanError> {
        if self.remaining() < N as u64 {
            return Ok(None);
        }
        let mut buf = [0u8; N];
        self.r.read_exact(&mut buf)?;
        self.pos += N as u64;
        Ok(Some(buf))
    }

    fn read_u16(&mut self, big: bool) -> Result<Option<u16>, ScanError> {
        Ok(self.read_bytes::<2>()?.map(|b| {
            if big {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        }))
    }

    fn read_u32(&mut self, big: bool) -> Result<Option<u32>, ScanError> {
        Ok(self.read_bytes::<4>()?.map(|b| {
            if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        }))
    }

    fn read_tag(&mut self, big: bool) -> Result<Option<(u16, u16)>, ScanError> {
        let Some(group) = self.read_u16(big)? else {
            return Ok(None);
        };
        Ok(self.read_u16(big)?.map(|element| (group, element)))
    }

    /// Checks that a value of `len` bytes fits in the rest of the file.
    fn check_len(&self, tag: (u16, u16), len: u32) -> Result<(), ScanError> {
        if u64::from(len) > self.remaining() {
            return Err(ScanError::Corrupt(format!(
                "element ({:04X},{:04X}) declares {} bytes at offset {}, but only {} remain",
                tag.0,
                tag.1,
                len,
                self.pos,
                self.remaining()
            )));
        }
        Ok(())
    }

    fn skip(&mut self, len: u32) -> Result<(), ScanError> {
        self.r.seek_relative(i64::from(len))?;
        self.pos += u64::from(len);
        Ok(())
    }

    pub(super) fn scan_file(&mut self) -> Result<Flow, ScanError> {
        // preamble + magic code (dicom-rs accepts both with and without preamble)
        let Some(head) = self.read_bytes::<132>()? else {
            return Ok(Flow::GiveUp);
        };
        if &head[128..132] != b"DICM" {
            if &head[0..4] != b"DICM" {
                return Ok(Flow::GiveUp);
            }
            self.r.seek(std::io::SeekFrom::Start(4))?;
            self.pos = 4;
        }
        // File meta group: always explicit VR little endian. Like dicom-rs,
        // read (0002,0000) first and then as many bytes as it announces.
        let meta_mode = Mode {
            explicit: true,
            big_endian: false,
        };
        if self.read_tag(false)? != Some((0x0002, 0x0000)) {
            return Ok(Flow::GiveUp);
        }
        if !matches!(
            self.read_header_rest(meta_mode, (0x0002, 0x0000))?,
            Some((_, 4))
        ) {
            return Ok(Flow::GiveUp);
        }
        let Some(group_length) = self.read_u32(false)? else {
            return Ok(Flow::GiveUp);
        };
        let meta_start = self.pos;
        let mut transfer_syntax = String::new();
        while self.pos - meta_start < u64::from(group_length) {
            let Some(tag) = self.read_tag(false)? else {
                return Ok(Flow::GiveUp);
            };
            let header = if tag.0 == 0xFFFE {
                self.read_u32(false)?.map(|len| (VR::UN, len))
            } else {
                self.read_header_rest(meta_mode, tag)?
            };
            let Some((_, len)) = header else {
                return Ok(Flow::GiveUp);
            };
            if len == UNDEFINED {
                return Ok(Flow::GiveUp);
            }
            self.check_len(tag, len)?;
            if tag == (0x0002, 0x0010) && len <= 128 {
                let mut buf = vec![0u8; len as usize];
                self.r.read_exact(&mut buf)?;
                self.pos += u64::from(len);
                transfer_syntax = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\0', ' '])
                    .to_string();
            } else {
                self.skip(len)?;
            }
        }
        let mode = match transfer_syntax.as_str() {
            "1.2.840.10008.1.2" => Mode {
                explicit: false,
                big_endian: false,
            },
            "1.2.840.10008.1.2.2" => Mode {
                explicit: true,
                big_endian: true,
            },
            // deflated: the data set is compressed, nothing to scan here
            "1.2.840.10008.1.2.1.99" | "" => return Ok(Flow::GiveUp),
            _ => Mode {
                explicit: true,
                big_endian: false,
            },
        };
        self.scan_dataset(mode, DatasetEnd::Eof, 0)
    }

    /// Reads what follows a tag: (VR, length), with the VR resolved exactly
    /// as dicom-rs does; `None` at end of file.
    fn read_header_rest(
        &mut self,
        mode: Mode,
        tag: (u16, u16),
    ) -> Result<Option<(VR, u32)>, ScanError> {
        if !mode.explicit {
            // implicit VR: OW for pixel/overlay data, else the dictionary, else UN
            let vr = if tag == (0x7FE0, 0x0010) || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
                VR::OW
            } else {
                use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
                dicom_dictionary_std::StandardDataDictionary
                    .by_tag(Tag(tag.0, tag.1))
                    .map_or(VR::UN, |e| e.vr().relaxed())
            };
            return Ok(self.read_u32(mode.big_endian)?.map(|len| (vr, len)));
        }
        let Some(bytes) = self.read_bytes::<2>()? else {
            return Ok(None);
        };
        let vr = VR::from_binary(bytes).unwrap_or(VR::UN);
        // 16-bit length for these VRs, otherwise 2 reserved bytes + 32-bit length
        use VR::*;
        let short = matches!(
            vr,
            AE | AS
                | AT
                | CS
                | DA
                | DS
                | DT
                | FL
                | FD
                | IS
                | LO
                | LT
                | PN
                | SH
                | SL
                | SS
                | ST
                | TM
                | UI
                | UL
                | US
        );
        if short {
            Ok(self
                .read_u16(mode.big_endian)?
                .map(|len| (vr, u32::from(len))))
        } else {
            if self.read_bytes::<2>()?.is_none() {
                return Ok(None);
            }
            Ok(self.read_u32(mode.big_endian)?.map(|len| (vr, len)))
        }
    }

    fn scan_dataset(&mut self, mode: Mode, end: DatasetEnd, depth: u32) -> Result<Flow, ScanError> {
        use VR::*;
        loop {
            match end {
                DatasetEnd::Eof if self.remaining() == 0 => return Ok(Flow::Continue),
                DatasetEnd::At(e) if self.logical() == e => return Ok(Flow::Continue),
                DatasetEnd::At(e) if self.logical() > e => return Ok(Flow::GiveUp),
                _ => {}
            }
            let Some(tag) = self.read_tag(mode.big_endian)? else {
                return Ok(Flow::GiveUp);
            };
            if tag == ITEM_DELIMITER && end == DatasetEnd::Delimiter {
                return Ok(match self.read_u32(mode.big_endian)? {
                    Some(_) => Flow::Continue,
                    None => Flow::GiveUp,
                });
            }
            if tag.0 == 0xFFFE {
                return Ok(Flow::GiveUp);
            }
            let Some((vr, len)) = self.read_header_rest(mode, tag)? else {
                return Ok(Flow::GiveUp);
            };
            let flow = if len == UNDEFINED {
                if tag == (0x7FE0, 0x0010) {
                    self.scan_fragments(mode)?
                } else {
                    // dicom-rs reads any other undefined length element as a
                    // sequence, in the same encoding
                    self.scan_sequence(mode, None, depth + 1)?
                }
            } else if vr == VR::SQ {
                self.check_len(tag, len)?;
                let end = self.logical() + u64::from(len);
                self.scan_sequence(mode, Some(end), depth + 1)?
            } else {
                // dicom-rs reads whole binary numbers only: a length that is
                // not a multiple of the number size leaves bytes unread
                // (while its position counter still advances by `len`)
                let unit = match vr {
                    US | OW | SS => 2,
                    AT | FL | OF | SL | UL | OL => 4,
                    FD | OD | SV | UV | OV => 8,
                    _ => 1,
                };
                let consumed = len - len % unit;
                self.check_len(tag, consumed)?;
                self.skip(consumed)?;
                self.skew += u64::from(len - consumed);
                Flow::Continue
            };
            if flow == Flow::GiveUp {
                return Ok(Flow::GiveUp);
            }
        }
    }

    fn scan_sequence(
        &mut self,
        mode: Mode,
        end: Option<u64>,
        depth: u32,
    ) -> Result<Flow, ScanError> {
        if depth > MAX_NESTING {
            return Err(ScanError::Corrupt(format!(
                "sequences nested deeper than {MAX_NESTING} levels"
            )));
        }
        loop {
            match end {
                Some(e) if self.logical() == e => return Ok(Flow::Continue),
                Some(e) if self.logical() > e => return Ok(Flow::GiveUp),
                _ => {}
            }
            let Some(tag) = self.read_tag(mode.big_endian)? else {
                return Ok(Flow::GiveUp);
            };
            let Some(len) = self.read_u32(mode.big_endian)? else {
                return Ok(Flow::GiveUp);
            };
            let flow = if tag == SEQUENCE_DELIMITER && end.is_none() {
                return Ok(Flow::Continue);
            } else if tag == ITEM && len == UNDEFINED {
                self.scan_dataset(mode, DatasetEnd::Delimiter, depth)?
            } else if tag == ITEM {
                self.check_len(tag, len)?;
                let item_end = self.logical() + u64::from(len);
                self.scan_dataset(mode, DatasetEnd::At(item_end), depth)?
            } else {
                Flow::GiveUp
            };
            if flow == Flow::GiveUp {
                return Ok(Flow::GiveUp);
            }
        }
    }

    fn scan_fragments(&mut self, mode: Mode) -> Result<Flow, ScanError> {
        loop {
            let Some(tag) = self.read_tag(mode.big_endian)? else {
                return Ok(Flow::GiveUp);
            };
            let Some(len) = self.read_u32(mode.big_endian)? else {
                return Ok(Flow::GiveUp);
            };
            if tag == SEQUENCE_DELIMITER {
                return Ok(Flow::Continue);
            }
            if tag != ITEM || len == UNDEFINED {
                return Ok(Flow::GiveUp);
            }
            self.check_len(tag, len)?;
            self.skip(len)?;
        }
    }
}
