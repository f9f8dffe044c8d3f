//! From frames to entries: reading frames in order, checking and decoding them on worker
//! threads, and handing each entry's bytes to a sink (`stream_entries`), passing over damaged
//! frames when asked to.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::sync::{mpsc, Mutex};

use super::pack_file::{OtherCopy, PackFile};
use super::read_exact_at;
use crate::archive::codec::{decompress, Codec};
use crate::archive::error::ArchiveError;
use crate::archive::format::{
    FrameHeader, FrameInfo, Index, Location, FRAME_HEADER_LEN, FRAME_RAW,
};
use crate::archive::seal::Sealing;

/// What `stream_entries` hands its sink for an entry.
pub(crate) enum Piece<'a> {
    /// The next bytes of the entry's content.
    Data(&'a [u8]),
    /// The entry's content is complete (its CRC is the sink's to check).
    End,
    /// A frame holding (part of) the entry is damaged: the entry is lost, nothing more of it
    /// comes. Only with `skip_damaged`.
    Lost(&'a ArchiveError),
}

/// Delivers the content of in-archive entries `ids` (ascending body offsets) to `sink` as
/// `Data` pieces followed by `End` at each entry's end. `wanted` must list every frame those
/// entries touch, ascending.
///
/// A frame that fails its CRC or does not decode stops the stream with its error, unless
/// `skip_damaged`: then every entry with bytes in that frame is `Lost` (an entry spanning it
/// included) and the stream goes on with the next entry in the frames after it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stream_entries<'v, R: Read + Seek>(
    r: &mut R,
    index: &Index,
    via: impl Into<Via<'v>>,
    starts: &[u64],
    threads: usize,
    ids: &[usize],
    wanted: &[usize],
    skip_damaged: bool,
    mut sink: impl FnMut(usize, Piece<'_>) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut at = Cursor {
        index,
        ids,
        cur: 0,
        got: 0,
    };
    let src = match via.into() {
        Via::Here(sealing) => Source::Here {
            r,
            dec: Decoder {
                codec: index.codec,
                sealing,
            },
            frames: &index.frames,
        },
        Via::Packs(packs) => Source::Packs(packs),
    };
    for_each_frame(
        src,
        &index.frames,
        threads,
        wanted,
        skip_damaged,
        |fi, data| match data {
            Ok(data) => at.place(Some((starts[fi], data)), &mut sink),
            Err(why) => {
                let end = starts[fi] + u64::from(index.frames[fi].raw_len);
                at.lose(end, &why, &mut sink)
            }
        },
    )?;
    at.place(None, &mut sink)
}

type Sink<'s> = dyn FnMut(usize, Piece<'_>) -> Result<(), ArchiveError> + 's;

/// Where `stream_entries` is: the entry being filled (`ids[cur]`) and how many of its bytes
/// were delivered.
struct Cursor<'a> {
    index: &'a Index,
    ids: &'a [usize],
    cur: usize,
    got: u64,
}

impl Cursor<'_> {
    fn offset(&self) -> Result<u64, ArchiveError> {
        match self.index.entries[self.ids[self.cur]].location {
            Location::Here { offset } => Ok(offset),
            _ => Err(ArchiveError::bad_index(
                "content requested for an entry not in this archive",
            )),
        }
    }

    /// Hands out the bytes of a decoded frame starting at body offset `fs` (`None`: no more
    /// frames, so every remaining entry must be complete).
    fn place(&mut self, frame: Option<(u64, &[u8])>, sink: &mut Sink) -> Result<(), ArchiveError> {
        while self.cur < self.ids.len() {
            let id = self.ids[self.cur];
            let e = &self.index.entries[id];
            let offset = self.offset()?;
            if self.got == e.size {
                sink(id, Piece::End)?;
                self.cur += 1;
                self.got = 0;
                continue;
            }
            let Some((fs, data)) = frame else {
                return Err(ArchiveError::bad_index(format!(
                    "entry {:?} runs past the frames read",
                    e.path
                )));
            };
            let fe = fs + data.len() as u64;
            let pos = offset + self.got;
            if pos >= fe {
                break;
            }
            if pos < fs {
                return Err(ArchiveError::bad_index(format!(
                    "entry {:?} starts in a frame not read",
                    e.path
                )));
            }
            let end = (offset + e.size).min(fe);
            sink(
                id,
                Piece::Data(&data[(pos - fs) as usize..(end - fs) as usize]),
            )?;
            self.got += end - pos;
        }
        Ok(())
    }

    /// A damaged frame ending at body offset `end`: entries complete before it end, every
    /// entry with bytes before `end` still to come is lost (its later bytes are passed over,
    /// since the next entry starts after them).
    fn lose(&mut self, end: u64, why: &ArchiveError, sink: &mut Sink) -> Result<(), ArchiveError> {
        while self.cur < self.ids.len() {
            let id = self.ids[self.cur];
            let size = self.index.entries[id].size;
            if self.got == size {
                sink(id, Piece::End)?;
            } else if self.offset()? + self.got < end {
                sink(id, Piece::Lost(why))?;
            } else {
                break;
            }
            self.cur += 1;
            self.got = 0;
        }
        Ok(())
    }
}

/// Reads a frame's header and stored bytes. The stored length comes from the index (already
/// checked to tile the file), so a damaged frame header cannot make us read or allocate more.
fn read_stored<R: Read + Seek>(
    r: &mut R,
    frames: &[FrameInfo],
    i: usize,
) -> Result<(FrameHeader, Vec<u8>), ArchiveError> {
    let f = frames[i];
    let mut hb = [0u8; FRAME_HEADER_LEN];
    read_exact_at(r, f.offset, &mut hb, &format!("frame {i} header"))?;
    let mut stored = vec![0u8; f.stored_len as usize];
    r.read_exact(&mut stored).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ArchiveError::Truncated {
                what: format!("frame {i}"),
                offset: f.offset,
            }
        } else {
            ArchiveError::Io {
                context: format!("reading frame {i} at offset {}", f.offset),
                source: e,
            }
        }
    })?;
    Ok((FrameHeader::decode(&hb), stored))
}

/// How frames of one archive decode: its codec, and its key when sealed.
#[derive(Clone, Copy)]
pub(crate) struct Decoder<'a> {
    pub codec: Codec,
    pub sealing: Option<&'a Sealing>,
}

impl From<Codec> for Decoder<'_> {
    fn from(codec: Codec) -> Self {
        Decoder {
            codec,
            sealing: None,
        }
    }
}

/// Checks a frame's CRC and agreement with the index, opens its seal (sealed archives; `last`:
/// it is the archive's last frame), then decompresses it.
pub(crate) fn decode_frame<'a>(
    dec: impl Into<Decoder<'a>>,
    i: usize,
    last: bool,
    info: &FrameInfo,
    h: FrameHeader,
    mut stored: Vec<u8>,
) -> Result<Vec<u8>, ArchiveError> {
    let Decoder { codec, sealing } = dec.into();
    if h.compute_crc(&stored) != h.crc32 {
        return Err(ArchiveError::FrameChecksum {
            frame: i as u64,
            offset: info.offset,
        });
    }
    if h.stored_len != info.stored_len || h.raw_len != info.raw_len {
        return Err(ArchiveError::bad_index(format!(
            "frame {i} header says {}/{} bytes, the index says {}/{}",
            h.stored_len, h.raw_len, info.stored_len, info.raw_len
        )));
    }
    let fail = |reason: String| ArchiveError::Decompress {
        frame: i as u64,
        reason,
    };
    if h.reserved != [0; 3] {
        return Err(fail(format!(
            "reserved frame header bytes are {:?}, not zero",
            h.reserved
        )));
    }
    if let Some(s) = sealing {
        s.open_frame(i as u64, last, &h.encode()[..12], info.offset, &mut stored)?;
    }
    match h.flags {
        FRAME_RAW if stored.len() == h.raw_len as usize => Ok(stored),
        FRAME_RAW => Err(fail("raw frame whose stored and raw lengths differ".into())),
        0 if codec == Codec::None => Err(fail(
            "compressed frame in an archive with codec none".into(),
        )),
        0 => decompress(codec, &stored, h.raw_len as usize).map_err(fail),
        f => Err(fail(format!("unknown frame flags {f:#04x}"))),
    }
}

type Decoded = (usize, Result<Vec<u8>, ArchiveError>);

/// Calls `consume(frame, raw_bytes)` for each frame in `wanted`, in order. Reading happens on
/// this thread (`R` need not be `Send`); checking and decompressing on `threads` workers, with
/// at most `2 * threads` frames in flight so memory stays bounded. A frame that fails its check
/// or decoding ends the walk with its error, or with `tolerate` is handed to `consume` as
/// `Err` and the walk goes on (a read error always ends it).
fn for_each_frame<'s, R: Read + Seek>(
    mut src: Source<'s, '_, R>,
    frames: &'s [FrameInfo],
    threads: usize,
    wanted: &[usize],
    tolerate: bool,
    mut consume: impl FnMut(usize, Result<&[u8], ArchiveError>) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut deliver = |i: usize, decoded: Result<Vec<u8>, ArchiveError>| match decoded {
        Ok(raw) => consume(i, Ok(&raw)),
        Err(e) if tolerate => consume(i, Err(e)),
        Err(e) => Err(e),
    };
    if let Some(&bad) = wanted.iter().find(|&&i| i >= frames.len()) {
        return Err(ArchiveError::bad_index(format!(
            "frame {bad} does not exist"
        )));
    }
    let threads = threads.min(wanted.len());
    if threads <= 1 {
        for &i in wanted {
            deliver(i, src.read(i)?.decode())?;
        }
        return Ok(());
    }
    let (job_tx, job_rx) = mpsc::sync_channel::<(usize, Unit<'s>)>(threads);
    let job_rx = Mutex::new(job_rx);
    let (res_tx, res_rx) = mpsc::channel::<Decoded>();
    std::thread::scope(|s| {
        // Moved in so that returning from this closure closes the job channel before the
        // scope joins the workers (otherwise they would wait for jobs forever).
        let job_tx = job_tx;
        for _ in 0..threads {
            let res_tx = res_tx.clone();
            let job_rx = &job_rx;
            s.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(g) => g.recv(),
                    Err(_) => return,
                };
                let Ok((seq, unit)) = job else { return };
                let out = unit.decode();
                if res_tx.send((seq, out)).is_err() {
                    return;
                }
            });
        }
        drop(res_tx);
        let max_in_flight = threads * 2;
        let (mut sent, mut done, mut in_flight) = (0usize, 0usize, 0usize);
        let mut pending: BTreeMap<usize, Result<Vec<u8>, ArchiveError>> = BTreeMap::new();
        // Returning drops job_tx, which lets the workers finish before the scope joins them.
        while done < wanted.len() {
            while sent < wanted.len() && in_flight < max_in_flight {
                let unit = src.read(wanted[sent])?;
                if job_tx.send((sent, unit)).is_err() {
                    return Err(ArchiveError::invalid(
                        "decoding threads stopped unexpectedly",
                    ));
                }
                sent += 1;
                in_flight += 1;
            }
            while let Some(res) = pending.remove(&done) {
                deliver(wanted[done], res)?;
                done += 1;
            }
            if done == wanted.len() {
                break;
            }
            let Ok((seq, res)) = res_rx.recv() else {
                return Err(ArchiveError::invalid(
                    "decoding threads stopped unexpectedly",
                ));
            };
            in_flight -= 1;
            pending.insert(seq, res);
        }
        Ok(())
    })
}

/// Where a reader's frames are: in its own file (sealed with its key or not), or in other
/// archives (`PackFrames`: a repository snapshot's chunks, each frame of a pack; or an
/// archive's own frames read as its one pack's, `over_itself`).
#[derive(Clone, Copy)]
pub(crate) enum Via<'a> {
    Here(Option<&'a Sealing>),
    Packs(&'a PackFrames),
}

impl<'a> Via<'a> {
    /// A reader's: over packs when it has them, else its own frames.
    pub(crate) fn of(sealing: Option<&'a Sealing>, packs: Option<&'a PackFrames>) -> Via<'a> {
        match packs {
            Some(p) => Via::Packs(p),
            None => Via::Here(sealing),
        }
    }
}

impl<'a> From<Option<&'a Sealing>> for Via<'a> {
    fn from(s: Option<&'a Sealing>) -> Self {
        Via::Here(s)
    }
}

/// The frames of a virtual body that live in other archives: frame `i` of the reader is frame
/// `map[i].1` of `packs[map[i].0]` (a repository snapshot over its packs, schema/repository.md;
/// an archive over itself, `over_itself`, is one pack and `map[i] == (0, i)`).
/// Each pack keeps its own codec and seal, so every frame is checked and opened as in its pack.
/// A frame whose pack is `MISSING` is damaged: reading it fails with `missing[map[i].1]`, as a
/// frame failing its CRC does (`skip_damaged` passes over it).
pub struct PackFrames {
    pub(crate) packs: Vec<super::ArchiveReader<PackFile>>,
    pub(crate) map: Vec<(u32, u32)>,
    pub(crate) missing: Vec<String>,
}

impl PackFrames {
    /// The pack number of a frame that is nowhere.
    pub const MISSING: u32 = u32::MAX;
}

/// What `for_each_frame` reads frames from.
enum Source<'s, 'r, R> {
    Here {
        r: &'r mut R,
        dec: Decoder<'s>,
        frames: &'s [FrameInfo],
    },
    Packs(&'s PackFrames),
}

/// One frame as read, with what decoding it needs (on a worker thread).
struct Unit<'s> {
    /// The frame is nowhere (a snapshot's chunk whose pack is gone): decoding it fails so.
    missing: Option<&'s str>,
    dec: Decoder<'s>,
    /// The frame's number in its own archive (its nonce and its errors name it).
    frame: usize,
    last: bool,
    info: FrameInfo,
    h: FrameHeader,
    stored: Vec<u8>,
    /// The pack it came from, when another copy can stand in for a damaged local frame.
    pack: Option<&'s PackFile>,
}

impl Unit<'_> {
    fn decode(self) -> Result<Vec<u8>, ArchiveError> {
        if let Some(why) = self.missing {
            return Err(ArchiveError::Truncated {
                what: format!("frame {} ({why})", self.frame),
                offset: 0,
            });
        }
        let damaged = match decode_frame(
            self.dec,
            self.frame,
            self.last,
            &self.info,
            self.h,
            self.stored,
        ) {
            Ok(raw) => return Ok(raw),
            Err(e) => e,
        };
        let Some((path, other)) = self.pack.and_then(PackFile::fallback) else {
            return Err(damaged);
        };
        // The local frame fails its checks: the other copy's frame, checked the same way.
        let again = read_other(other, &self.info, self.frame).and_then(|(h, stored)| {
            decode_frame(self.dec, self.frame, self.last, &self.info, h, stored)
        });
        match again {
            Ok(raw) => {
                log::warn!(
                    "{}: frame {} is damaged ({damaged}); read from {} instead",
                    path.display(),
                    self.frame,
                    other.describe()
                );
                Ok(raw)
            }
            Err(e) => {
                log::warn!(
                    "{}: frame {} is damaged ({damaged}), and so is {}'s ({e})",
                    path.display(),
                    self.frame,
                    other.describe()
                );
                Err(damaged)
            }
        }
    }
}

/// A frame's header and stored bytes from another copy of its pack (one ranged read).
fn read_other(
    other: &dyn OtherCopy,
    info: &FrameInfo,
    i: usize,
) -> Result<(FrameHeader, Vec<u8>), ArchiveError> {
    let mut buf = vec![0u8; FRAME_HEADER_LEN + info.stored_len as usize];
    other
        .read_at(info.offset, &mut buf)
        .map_err(|e| ArchiveError::Io {
            context: format!("reading frame {i} from {}", other.describe()),
            source: e,
        })?;
    let stored = buf.split_off(FRAME_HEADER_LEN);
    let mut hb = [0u8; FRAME_HEADER_LEN];
    hb.copy_from_slice(&buf);
    Ok((FrameHeader::decode(&hb), stored))
}

impl<'s, R: Read + Seek> Source<'s, '_, R> {
    /// Reads frame `i` of the reader (a bad `i` was refused before).
    fn read(&mut self, i: usize) -> Result<Unit<'s>, ArchiveError> {
        match self {
            Source::Here { r, dec, frames } => {
                let (h, stored) = read_stored(*r, frames, i)?;
                Ok(Unit {
                    missing: None,
                    dec: *dec,
                    frame: i,
                    last: i + 1 == frames.len(),
                    info: frames[i],
                    h,
                    stored,
                    pack: None,
                })
            }
            Source::Packs(p) => {
                let (pi, f) = p.map[i];
                if pi == PackFrames::MISSING {
                    return Ok(Unit {
                        missing: Some(p.missing[f as usize].as_str()),
                        dec: Decoder {
                            codec: Codec::None,
                            sealing: None,
                        },
                        frame: i,
                        last: false,
                        info: FrameInfo {
                            offset: 0,
                            stored_len: 0,
                            raw_len: 0,
                        },
                        h: FrameHeader::decode(&[0; FRAME_HEADER_LEN]),
                        stored: Vec::new(),
                        pack: None,
                    });
                }
                let pack = &p.packs[pi as usize];
                let frames = &pack.index.frames;
                let f = f as usize;
                // Positional reads on the shared handle: `&PackFile` reads and seeks. A local
                // file cut short is read from the other copy, as a damaged frame is.
                let (h, stored) = match (read_stored(&mut &pack.r, frames, f), pack.r.fallback()) {
                    (Ok(read), _) => read,
                    (Err(e), Some((path, other))) => {
                        let read = read_other(other, &frames[f], f).map_err(|_| e)?;
                        log::warn!(
                            "{}: frame {f} is unreadable; read from {} instead",
                            path.display(),
                            other.describe()
                        );
                        read
                    }
                    (Err(e), None) => return Err(e),
                };
                Ok(Unit {
                    missing: None,
                    dec: Decoder {
                        codec: pack.index.codec,
                        sealing: pack.sealing.as_ref(),
                    },
                    frame: f,
                    last: f + 1 == frames.len(),
                    info: frames[f],
                    h,
                    stored,
                    pack: Some(&pack.r),
                })
            }
        }
    }
}
