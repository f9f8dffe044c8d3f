//! Verify of the repository's frames: every frame the chosen snapshots need, each read once
//! however many of them share it, or a rotating sample of them (`verify --sample 5%`). Which
//! frames is the projection's (`Repository::frames_needed`, `sample_frames`); this reads them:
//! each through its pack's container, which checks the frame's CRC, the seal's tag (sealed
//! packs) and the entry's CRC of the decompressed chunk.

use std::fmt;

use serde::Serialize;

use super::layout::Layout;
use super::EngineError;
use crate::config::Config;
use crate::projections::{sample_frames, Repository};

/// What a frame verify read and what it found damaged.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FramesChecked {
    /// The share asked for (1.0 = every frame) and the round of the rotation.
    pub share: f64,
    pub round: u64,
    /// Frames the snapshots need, each counted once, and how many were read.
    pub needed: u64,
    pub frames: u64,
    pub packs: u64,
    /// Chunk bytes read and checked.
    pub bytes: u64,
    /// Each damaged frame or missing pack: `pack frame: why`.
    pub damaged: Vec<String>,
}

impl fmt::Display for FramesChecked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} frame(s) in {} pack(s) checked ({:.1}% sample, round {}), {} bytes",
            self.frames,
            self.needed,
            self.packs,
            self.share * 100.0,
            self.round,
            self.bytes
        )?;
        if !self.damaged.is_empty() {
            write!(f, "; damaged: {}", self.damaged.join("; "))?;
        }
        Ok(())
    }
}

/// Parses a share as `5%`, `5` (per cent) or `0.05`: more than 0, at most 100 %.
pub fn parse_share(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, percent) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (t, false),
    };
    let v: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a share like 5% or 0.05"))?;
    let share = if percent || v > 1.0 { v / 100.0 } else { v };
    if !(share > 0.0 && share <= 1.0) {
        return Err(format!("{text:?} is not a share above 0 and at most 100%"));
    }
    Ok(share)
}

/// Reads the frames `backups` need (every live snapshot when `None`): all of them, or round
/// `round` of a rotating `share`.
pub fn verify_frames(
    config: &Config,
    repo: &Repository,
    backups: Option<&[String]>,
    share: f64,
    round: u64,
) -> Result<FramesChecked, EngineError> {
    let all = repo.frames_needed(backups);
    let chosen = sample_frames(&all, share, round);
    let layout = Layout::of(config);
    let mut done = FramesChecked {
        share,
        round,
        needed: all.iter().map(|p| p.frames.len() as u64).sum(),
        ..FramesChecked::default()
    };
    let mut buf = Vec::new();
    for p in &chosen {
        done.packs += 1;
        let path = layout.resolve(&p.location);
        let mut reader = match crate::repository::open_pack(&path, layout.key()) {
            Ok(r) => r,
            Err(e) => {
                done.damaged.push(format!("{}: {e}", p.pack));
                continue;
            }
        };
        for (frame, id) in &p.frames {
            done.frames += 1;
            buf.clear();
            let name = crate::keys::hex(id);
            match reader.read_entry(&name, &mut buf) {
                Ok(n) => done.bytes += n,
                Err(e) => done.damaged.push(format!("{} frame {frame}: {e}", p.pack)),
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_read_as_per_cent_or_fraction() {
        assert_eq!(parse_share("5%"), Ok(0.05));
        assert_eq!(parse_share(" 12.5 % "), Ok(0.125));
        assert_eq!(parse_share("0.05"), Ok(0.05));
        assert_eq!(parse_share("5"), Ok(0.05));
        assert_eq!(parse_share("100%"), Ok(1.0));
        for bad in ["0", "0%", "101%", "-5%", "x", "", "nan"] {
            assert!(parse_share(bad).is_err(), "{bad}");
        }
    }
}
