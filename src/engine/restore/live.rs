//! The live tree, by handles: the walk from `/` that never follows a link, and the writes
//! relative to a directory handle (`openat`, `mkdirat`, `renameat`, `symlinkat`) that in-place
//! restore is made of (see `in_place` for why).

use std::ffi::{CStr, CString};
use std::fs::{File, FileTimes, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;

use super::overwrite::{Kind, Meta};
use crate::archive::{ArchiveReader, IndexEntry, Mtime, PackFile};

/// A file's write failed: its content (the archive) or the live tree.
pub(super) enum Failed {
    Content(crate::archive::ArchiveError),
    Live(io::Error),
}

/// Where a walk to a path's parent ended.
pub(super) enum Walk {
    /// The parent, open, and the path's last component.
    Parent(OwnedFd, CString),
    /// A parent does not exist (only when not creating): everything below it would be created.
    Missing,
    /// A parent is a symlink or not a directory: the path is not written, for this reason.
    Unsafe(String),
}

pub(super) type Created<'a> = (&'a dyn Fn(&str) -> u32, &'a mut Vec<String>);

/// Opens the parent of `orig` from `/`, one component at a time, never following a link. With
/// `create`, missing parents are made (with the mode it gives) and named in its list.
pub(super) fn walk(orig: &str, mut create: Option<Created<'_>>) -> io::Result<Walk> {
    let rel = orig.trim_start_matches('/');
    let mut parts: Vec<&str> = rel.split('/').collect();
    let last = parts.pop().unwrap_or_default();
    let mut dir = open_dir_at(None, c"/")?;
    let mut prefix = String::new();
    for part in parts {
        prefix.push('/');
        prefix.push_str(part);
        let name = cstr(part)?;
        dir = match open_dir_at(Some(&dir), &name) {
            Ok(next) => next,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => match create.as_mut() {
                Some((mode_of, made)) => {
                    mkdir_at(&dir, &name, mode_of(&prefix))?;
                    made.push(prefix.clone());
                    open_dir_at(Some(&dir), &name)?
                }
                None => return Ok(Walk::Missing),
            },
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                let what = match lstat_at(&dir, &name)? {
                    Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                        "is a symlink in the live tree (the backup has a directory there); not followed"
                    }
                    _ => "is not a directory in the live tree (the backup has one there)",
                };
                return Ok(Walk::Unsafe(format!("{prefix} {what}")));
            }
            Err(e) => return Err(e),
        };
    }
    Ok(Walk::Parent(dir, cstr(last)?))
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in a path"))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `openat(dir, name, O_DIRECTORY | O_NOFOLLOW)`; `dir` `None` = an absolute `name`.
fn open_dir_at(dir: Option<&OwnedFd>, name: &CStr) -> io::Result<OwnedFd> {
    let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid C string and descriptor; the returned descriptor is owned once checked.
    let fd = unsafe { libc::openat(at, name.as_ptr(), flags) };
    check(fd)?;
    // SAFETY: fd is a fresh, open descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn lstat_at(dir: &OwnedFd, name: &CStr) -> io::Result<Option<libc::stat>> {
    // SAFETY: stat is plain data; fstatat fills it or fails.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, C string and out pointer.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    match check(rc) {
        Ok(()) => Ok(Some(st)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn lstat_meta(dir: &OwnedFd, name: &CStr) -> io::Result<Option<Meta>> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(None);
    };
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink(read_link_at(dir, name)?),
        _ => Kind::Other,
    };
    Ok(Some(Meta {
        kind,
        size: st.st_size as u64,
        mtime: Mtime::new(st.st_mtime, st.st_mtime_nsec as u32),
        mode: st.st_mode & 0o7777,
    }))
}

fn read_link_at(dir: &OwnedFd, name: &CStr) -> io::Result<String> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: the buffer is as long as said.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

pub(super) fn mkdir_at(dir: &OwnedFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: valid descriptor and C string.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) })
}

fn rename_at(dir: &OwnedFd, from: &CStr, to: &CStr) -> io::Result<()> {
    let d = dir.as_raw_fd();
    // SAFETY: valid descriptor and C strings.
    check(unsafe { libc::renameat(d, from.as_ptr(), d, to.as_ptr()) })
}

fn unlink_at(dir: &OwnedFd, name: &CStr) {
    // SAFETY: valid descriptor and C string; a failure leaves a temporary file, nothing worse.
    unsafe {
        libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0);
    }
}

/// A temporary name in the same directory, never an existing one (`O_EXCL` checks that).
fn temp_name() -> CString {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    CString::new(format!(".backupd-restore.{}.{n}.tmp", std::process::id()))
        .expect("no NUL in a formatted name")
}

fn sync_dir(dir: &OwnedFd) -> io::Result<()> {
    // SAFETY: valid descriptor.
    check(unsafe { libc::fsync(dir.as_raw_fd()) })
}

pub(super) fn write_file(
    reader: &mut ArchiveReader<PackFile>,
    e: &IndexEntry,
    dir: &OwnedFd,
    name: &CStr,
) -> Result<(), Failed> {
    let tmp = temp_name();
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid descriptor and C string; the result is checked before it is owned.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), tmp.as_ptr(), flags, 0o600 as libc::c_uint) };
    check(fd).map_err(Failed::Live)?;
    // SAFETY: fd is a fresh, open descriptor nobody else owns.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 16, &mut file);
        reader
            .read_entry(&e.path, &mut out)
            .map_err(Failed::Content)?;
        out.flush().map_err(Failed::Live)?;
        drop(out);
        file.set_permissions(Permissions::from_mode(e.mode & 0o7777))
            .map_err(Failed::Live)?;
        if let Some(t) = e.mtime.to_system_time() {
            file.set_times(FileTimes::new().set_modified(t))
                .map_err(Failed::Live)?;
        }
        file.sync_all().map_err(Failed::Live)?;
        rename_at(dir, &tmp, name).map_err(Failed::Live)?;
        sync_dir(dir).map_err(Failed::Live)
    })();
    if result.is_err() {
        unlink_at(dir, &tmp);
    }
    result
}

fn timespecs(mtime: Mtime) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: mtime.secs as libc::time_t,
            tv_nsec: mtime.nanos as libc::c_long,
        },
    ]
}

pub(super) fn write_symlink(
    dir: &OwnedFd,
    name: &CStr,
    target: &str,
    mtime: Mtime,
) -> io::Result<()> {
    let tmp = temp_name();
    let target = cstr(target)?;
    // SAFETY: valid descriptor and C strings.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), tmp.as_ptr()) })?;
    let times = timespecs(mtime);
    let result = (|| {
        // SAFETY: valid descriptor, C string and two timespecs; the link itself, not followed.
        check(unsafe {
            libc::utimensat(
                dir.as_raw_fd(),
                tmp.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        rename_at(dir, &tmp, name)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        unlink_at(dir, &tmp);
    }
    result
}

/// The mode of the regular file `name`, through a handle that does not follow a link.
pub(super) fn set_mode_at(dir: &OwnedFd, name: &CStr, mode: u32) -> io::Result<()> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: valid descriptor and C string; checked before it is owned.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
    check(fd)?;
    // SAFETY: a fresh descriptor nobody else owns.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.set_permissions(Permissions::from_mode(mode))
}

pub(super) fn set_dir_meta(dir: &OwnedFd, name: &CStr, mode: u32, mtime: Mtime) -> io::Result<()> {
    let d = File::from(open_dir_at(Some(dir), name)?);
    d.set_permissions(Permissions::from_mode(mode))?;
    if let Some(t) = mtime.to_system_time() {
        d.set_times(FileTimes::new().set_modified(t))?;
    }
    Ok(())
}
