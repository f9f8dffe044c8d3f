//! Compression codecs: naming, level ranges, and compressing / decompressing one frame.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use super::error::ArchiveError;

/// The compression applied to every frame (and to the index) of one archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    None,
    Zstd,
    Xz,
    Gzip,
}

impl Codec {
    /// All codecs, in their on-disk id order.
    pub const ALL: [Codec; 4] = [Codec::None, Codec::Zstd, Codec::Xz, Codec::Gzip];

    /// The id stored in the header (see schema/archive.md).
    pub fn id(self) -> u8 {
        match self {
            Codec::None => 0,
            Codec::Zstd => 1,
            Codec::Xz => 2,
            Codec::Gzip => 3,
        }
    }

    pub fn from_id(id: u8) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Zstd => "zstd",
            Codec::Xz => "xz",
            Codec::Gzip => "gzip",
        }
    }

    /// The levels this codec accepts, on the codec's own scale (`none` ignores the level).
    pub fn level_range(self) -> std::ops::RangeInclusive<i32> {
        match self {
            Codec::None => i32::MIN..=i32::MAX,
            Codec::Zstd => 1..=22,
            Codec::Xz => 0..=9,
            Codec::Gzip => 0..=9,
        }
    }

    /// A sensible default level: zstd 3 (fast, for frequent runs), xz 6, gzip 6.
    pub fn default_level(self) -> i32 {
        match self {
            Codec::None => 0,
            Codec::Zstd => 3,
            Codec::Xz => 6,
            Codec::Gzip => 6,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Codec {
    type Err = ArchiveError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Codec::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                ArchiveError::invalid(format!(
                    "unknown codec {s:?} (expected none, zstd, xz or gzip)"
                ))
            })
    }
}

/// Size of each sample taken to decide whether a frame is worth compressing.
const PROBE_SAMPLE: usize = 32 * 1024;

/// A frame is stored raw when fast-compressed samples shrink by less than this (per mille).
/// Already-compressed data (gzip, jpeg, random bytes) lands at ~1000‰; text is far below.
const PROBE_KEEP_PER_MILLE: usize = 985;

/// Per-thread compression state: contexts are reused across frames because creating a zstd or
/// xz context per frame costs more than compressing a small frame.
pub(crate) struct FrameCompressor {
    codec: Codec,
    level: i32,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    probe: Option<zstd::bulk::Compressor<'static>>,
    /// xz dictionary larger than a frame only costs memory; capped at the frame size.
    xz_dict: u32,
}

impl FrameCompressor {
    pub(crate) fn new(codec: Codec, level: i32, frame_size: usize) -> Result<Self, ArchiveError> {
        let zstd_ctx = |lvl: i32| {
            zstd::bulk::Compressor::new(lvl).map_err(ArchiveError::io("creating zstd compressor"))
        };
        let zstd = if codec == Codec::Zstd {
            Some(zstd_ctx(level)?)
        } else {
            None
        };
        let probe = if codec == Codec::None {
            None
        } else {
            Some(zstd_ctx(1)?)
        };
        let xz_dict = u32::try_from(frame_size.max(1 << 16)).unwrap_or(u32::MAX);
        Ok(FrameCompressor {
            codec,
            level,
            zstd,
            probe,
            xz_dict,
        })
    }

    /// Compresses one frame. `None` means "store it raw": the codec is `none`, the probe says the
    /// data does not compress, or the compressed form would not be smaller.
    pub(crate) fn compress(&mut self, raw: &[u8]) -> Result<Option<Vec<u8>>, ArchiveError> {
        if self.codec == Codec::None || raw.is_empty() || !self.worth_compressing(raw)? {
            return Ok(None);
        }
        let out = match self.codec {
            Codec::None => return Ok(None),
            Codec::Zstd => match self.zstd.as_mut() {
                Some(c) => c
                    .compress(raw)
                    .map_err(ArchiveError::io("zstd compression"))?,
                None => return Err(ArchiveError::invalid("zstd compressor missing")),
            },
            Codec::Xz => {
                let mut opts = xz2::stream::LzmaOptions::new_preset(self.level as u32)
                    .map_err(|e| ArchiveError::invalid(format!("xz preset {}: {e}", self.level)))?;
                let preset_dict = opts_dict_size(self.level);
                opts.dict_size(preset_dict.min(self.xz_dict).max(4096));
                let mut filters = xz2::stream::Filters::new();
                filters.lzma2(&opts);
                let stream =
                    xz2::stream::Stream::new_stream_encoder(&filters, xz2::stream::Check::None)
                        .map_err(|e| ArchiveError::invalid(format!("xz encoder: {e}")))?;
                let mut enc =
                    xz2::write::XzEncoder::new_stream(Vec::with_capacity(raw.len() / 2), stream);
                enc.write_all(raw)
                    .map_err(ArchiveError::io("xz compression"))?;
                enc.finish().map_err(ArchiveError::io("xz compression"))?
            }
            Codec::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(raw.len() / 2),
                    flate2::Compression::new(self.level as u32),
                );
                enc.write_all(raw)
                    .map_err(ArchiveError::io("gzip compression"))?;
                enc.finish().map_err(ArchiveError::io("gzip compression"))?
            }
        };
        if out.len() >= raw.len() {
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// Compresses up to three samples (start, middle, end) with zstd level 1 and says whether
    /// the frame looks compressible, so random or already-compressed data never pays for xz.
    fn worth_compressing(&mut self, raw: &[u8]) -> Result<bool, ArchiveError> {
        let Some(probe) = self.probe.as_mut() else {
            return Ok(false);
        };
        if raw.len() <= 3 * PROBE_SAMPLE {
            // Small frames are cheap to compress outright; the size check afterwards decides.
            return Ok(true);
        }
        let starts = [
            0,
            raw.len() / 2 - PROBE_SAMPLE / 2,
            raw.len() - PROBE_SAMPLE,
        ];
        let (mut input, mut output) = (0usize, 0usize);
        for s in starts {
            let sample = &raw[s..s + PROBE_SAMPLE];
            let c = probe
                .compress(sample)
                .map_err(ArchiveError::io("zstd probe compression"))?;
            input += sample.len();
            output += c.len();
        }
        Ok(output * 1000 < input * PROBE_KEEP_PER_MILLE)
    }
}

/// The dictionary size liblzma uses for a preset (lzma_lzma_preset's table), so the frame-size
/// cap only ever lowers it.
fn opts_dict_size(level: i32) -> u32 {
    const DICT_POW2: [u32; 10] = [18, 20, 21, 22, 22, 23, 23, 24, 25, 26];
    let i = level.clamp(0, 9) as usize;
    1u32 << DICT_POW2[i]
}

/// The largest memory an xz frame decoder may use; the writer never needs more than a 64 MiB
/// dictionary, so anything above comes from a corrupt or hostile archive.
const XZ_DECODE_MEMLIMIT: u64 = 256 << 20;

/// Decompresses one stored frame (or the index) that must expand to exactly `raw_len` bytes.
/// The decoder is wrapped in `take(raw_len + 1)` so a decompression bomb stops one byte past the
/// promise instead of filling memory. Errors are plain strings; the caller adds where.
pub(crate) fn decompress(codec: Codec, stored: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
    let limit = raw_len as u64 + 1;
    // Capacity grows with real output, never with the claimed length (which is capped anyway).
    let mut out = Vec::with_capacity(raw_len.min(stored.len().saturating_mul(4)).min(1 << 20));
    let res = match codec {
        Codec::None => {
            out.extend_from_slice(stored);
            Ok(0)
        }
        Codec::Zstd => zstd::stream::read::Decoder::with_buffer(stored)
            .map_err(|e| e.to_string())
            .and_then(|d| {
                d.take(limit)
                    .read_to_end(&mut out)
                    .map_err(|e| e.to_string())
            }),
        Codec::Xz => {
            let stream = xz2::stream::Stream::new_stream_decoder(XZ_DECODE_MEMLIMIT, 0)
                .map_err(|e| e.to_string())?;
            xz2::read::XzDecoder::new_stream(stored, stream)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| e.to_string())
        }
        Codec::Gzip => flate2::read::GzDecoder::new(stored)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| e.to_string()),
    };
    res?;
    if out.len() != raw_len {
        return Err(format!(
            "decompressed to {}{} bytes, expected {raw_len}",
            out.len(),
            if out.len() as u64 == limit { "+" } else { "" }
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Codec::ALL {
            assert_eq!(c.to_string().parse::<Codec>().unwrap(), c);
            assert_eq!(Codec::from_id(c.id()), Some(c));
        }
        assert!("lz4".parse::<Codec>().is_err());
        assert_eq!(Codec::from_id(4), None);
    }

    #[test]
    fn every_codec_round_trips_and_random_data_is_stored_raw() {
        let text: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let mut random = vec![0u8; 300_000];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for b in random.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        for codec in [Codec::Zstd, Codec::Xz, Codec::Gzip] {
            let mut c = FrameCompressor::new(codec, codec.default_level().min(3), 1 << 20).unwrap();
            let packed = c.compress(&text).unwrap().expect("text compresses");
            assert!(packed.len() < text.len() / 3, "{codec}: {}", packed.len());
            assert_eq!(decompress(codec, &packed, text.len()).unwrap(), text);
            // A wrong expected length is an error, not a silent truncation or overrun.
            assert!(decompress(codec, &packed, text.len() - 1).is_err());
            assert!(decompress(codec, &packed, text.len() + 1).is_err());
            assert!(
                c.compress(&random).unwrap().is_none(),
                "{codec}: random stored raw"
            );
        }
        let mut none = FrameCompressor::new(Codec::None, 0, 1 << 20).unwrap();
        assert!(none.compress(&text).unwrap().is_none());
    }
}
