//! Verify of the repository's frames: every frame the chosen snapshots need, each read once
//! however many of them share it, or a rotating sample of them (`verify --sample 5%`). Which
//! frames is the projection's (`Repository::frames_needed`, `sample_frames`); this reads them:
//! each through its pack's container, which checks the frame's CRC, the seal's tag (sealed
//! packs) and the entry's CRC of the decompressed chunk.

use std::fmt;

use serde::Serialize;

use super::layout::Layout;
use super::maintenance::{record, Done};
use super::EngineError;
use crate::config::Config;
use crate::decide::Command;
use crate::progress::ProgressHandle;
use crate::projections::{sample_frames, Repository};
use crate::service::Service;

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

/// Seconds in a week: the sampled verify job's round is the week number, so a weekly job reads
/// the next window of frames each time and a 5 % share covers them all in 20 weeks.
const WEEK_SECS: i64 = 7 * 86_400;

/// The `verify_sample` job (the weekly preset): round `week number` of a rotating `share` of the
/// frames every live snapshot needs, and the same share of the archive backups (the oldest-named
/// first, rotating the same way), each archive verified whole and its outcome recorded
/// (`backup_verified`). Anything damaged fails the run, naming it. With no backup at all the run
/// succeeds and says it found nothing to read.
pub fn job(
    config: &Config,
    service: &Service,
    run_id: &str,
    share: f64,
    progress: &ProgressHandle,
) -> Result<Done, EngineError> {
    let now = service.clock().now().unix_timestamp();
    let round = now.div_euclid(WEEK_SECS) as u64;
    progress.update(|p| p.phase = "verifying a sample of the repository's frames".into());
    let repo = service.read(|s| s.repository.clone());
    let frames = verify_frames(config, &repo, None, share, round)?;
    let mut damaged = frames.damaged.clone();

    let archives: Vec<String> = service.read(|s| {
        s.catalog
            .backups
            .values()
            .filter(|b| !crate::repository::is_snapshot_location(&b.record.location))
            .map(|b| b.record.id.clone())
            .collect()
    });
    let chosen = rotating(&archives, share, round);
    let (mut bytes, mut verified) = (frames.bytes, Vec::new());
    for (i, id) in chosen.iter().enumerate() {
        progress
            .cancel()
            .check()
            .map_err(|_| EngineError::Cancelled)?;
        progress.update(|p| {
            p.phase = format!("verifying archive {} of {}", i + 1, chosen.len());
        });
        let result = service.read(|s| super::verify::verify(config, s, id));
        let (ok, detail) = match &result {
            Ok(sum) => {
                bytes += sum.archive_bytes;
                (true, None)
            }
            Err(e) => {
                damaged.push(format!("{id}: {e}"));
                (false, Some(format!("sampled verify: {e}")))
            }
        };
        let command = Command::VerifyBackup {
            backup_id: id.clone(),
            ok,
            detail,
        };
        // Forgotten meanwhile: nothing to record, nothing wrong.
        if record(service, run_id, command).is_ok() {
            verified.push(id.clone());
        }
    }
    if !damaged.is_empty() {
        return Err(EngineError::Damaged { damaged });
    }
    let note = if frames.needed == 0 && archives.is_empty() {
        "nothing to verify: no backup holds data yet".to_string()
    } else {
        format!(
            "repository: {frames}; archives: {} of {} verified whole{}",
            verified.len(),
            archives.len(),
            if verified.is_empty() {
                String::new()
            } else {
                format!(" ({})", verified.join(", "))
            }
        )
    };
    Ok(Done {
        bytes,
        files: frames.frames + verified.len() as u64,
        note,
    })
}

/// Round `round` of a rotating `share` of `items`: a window of ceil(n * share) (at least one)
/// that moves on by its own length each round, wrapping around.
fn rotating(items: &[String], share: f64, round: u64) -> Vec<String> {
    let n = items.len();
    if n == 0 {
        return Vec::new();
    }
    let window = ((n as f64 * share).ceil() as usize).clamp(1, n);
    let start = ((round % n as u64) as usize * window) % n;
    (0..window)
        .map(|k| items[(start + k) % n].clone())
        .collect()
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

    #[test]
    fn archives_rotate_a_window_a_round_and_cover_all() {
        let items: Vec<String> = (0..7).map(|i| format!("b{i}")).collect();
        assert_eq!(rotating(&items, 0.2, 0), ["b0", "b1"]);
        assert_eq!(rotating(&items, 0.2, 1), ["b2", "b3"]);
        assert_eq!(rotating(&items, 0.2, 3), ["b6", "b0"]);
        let mut seen = std::collections::BTreeSet::new();
        for round in 0..4 {
            seen.extend(rotating(&items, 0.2, round));
        }
        assert_eq!(seen.len(), 7, "four rounds of two cover seven");
        assert_eq!(rotating(&items, 0.01, 5), ["b5"]);
        assert_eq!(rotating(&items, 1.0, 9).len(), 7);
        assert!(rotating(&[], 0.5, 1).is_empty());
    }
}
