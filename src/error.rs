//! What kind of failure an error is: the one question retries, health and notifications ask of
//! any error, whichever layer raised it.
//!
//! Rules for choosing a kind:
//! - `Transient` only when doing the same thing again later, unchanged, may succeed (the network,
//!   a server that is down, a full disk, a timeout, a lock someone else holds).
//! - `Integrity` when stored bytes are not what was written: a checksum or MAC that does not match,
//!   a truncated or unreadable archive or log, a chain whose parts are gone. Data is at risk.
//! - `Refused` when something works as designed and says no: permissions, authentication, a
//!   policy, a restore target that is not empty.
//! - `Config` when an operator must change a setting or an argument: an unknown codec, a missing
//!   tool, a source or backup that does not exist, a binary too old for the data.
//! - `Internal` when none of the above explains it: a bug, or something nobody expected.
//!
//! Each layer's error type has a `kind()` that says which, variant by variant; the API turns
//! kinds into HTTP statuses in one place (`api::error::status_for`), and a failed run records its
//! kind in the log (`events::FailureKind`, the persisted twin of this enum).

use serde::{Deserialize, Serialize};
use std::io;

/// The kind of a failure (see the module's rules).
///
/// Kept in projection snapshots, whose validity is keyed by `PROJECTION_VERSION`; the log keeps
/// `events::FailureKind` instead, whose variant order is frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Transient,
    Integrity,
    Refused,
    Config,
    Internal,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Transient,
        ErrorKind::Integrity,
        ErrorKind::Refused,
        ErrorKind::Config,
        ErrorKind::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Integrity => "integrity",
            ErrorKind::Refused => "refused",
            ErrorKind::Config => "config",
            ErrorKind::Internal => "internal",
        }
    }

    /// Will the same attempt, made again later, possibly succeed?
    pub fn is_transient(self) -> bool {
        self == ErrorKind::Transient
    }

    /// The kind of several failures together (one run that failed in several places): the most
    /// serious one, so a run is called transient only if every part of it was. Damaged data comes
    /// first, then bugs, then what an operator must fix.
    pub fn combine(self, other: ErrorKind) -> ErrorKind {
        let rank = |k: ErrorKind| match k {
            ErrorKind::Integrity => 4,
            ErrorKind::Internal => 3,
            ErrorKind::Config => 2,
            ErrorKind::Refused => 1,
            ErrorKind::Transient => 0,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }

    /// The kind of an I/O error, read from the OS error number where it is more precise than
    /// `io::ErrorKind`, else from the kind.
    pub fn of_io(e: &io::Error) -> ErrorKind {
        if let Some(code) = e.raw_os_error() {
            match code {
                // A full disk or quota, a busy resource, too many open files, no memory: all
                // go away when something else finishes or is cleaned up.
                libc::ENOSPC
                | libc::EDQUOT
                | libc::EAGAIN
                | libc::EBUSY
                | libc::EINTR
                | libc::EMFILE
                | libc::ENFILE
                | libc::ENOMEM
                | libc::ETXTBSY => return ErrorKind::Transient,
                // The medium failed to read or write: the bytes there cannot be trusted.
                libc::EIO => return ErrorKind::Integrity,
                libc::EACCES | libc::EPERM | libc::EROFS => return ErrorKind::Refused,
                _ => {}
            }
        }
        use io::ErrorKind as K;
        match e.kind() {
            K::StorageFull
            | K::QuotaExceeded
            | K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::AddrInUse
            | K::AddrNotAvailable
            | K::TimedOut
            | K::Interrupted
            | K::WouldBlock
            | K::ResourceBusy
            | K::ExecutableFileBusy
            | K::OutOfMemory
            // A pipe closed under us: the other end (a dump tool, a client) went away.
            | K::BrokenPipe => ErrorKind::Transient,
            // Bytes read back are not what a well-formed file holds: a short or garbled file.
            K::InvalidData | K::UnexpectedEof => ErrorKind::Integrity,
            K::PermissionDenied | K::ReadOnlyFilesystem => ErrorKind::Refused,
            // Paths come from the configuration or the caller (sources, targets, the data dir);
            // an archive the catalog names but the disk lacks is told apart by the engine
            // (`EngineError::MissingArchive`, an integrity failure) before it gets here.
            K::NotFound
            | K::NotADirectory
            | K::IsADirectory
            | K::Unsupported
            | K::FileTooLarge => ErrorKind::Config,
            // AlreadyExists (our names are unique), InvalidInput (we built the call), Other, ….
            _ => ErrorKind::Internal,
        }
    }

    /// The kind of an external tool's failure (`pg_dump`, `mariadb-dump`, `sqlite3`, a dump
    /// command), read from its message: exit codes say nothing (`pg_dump` exits 1 for all).
    /// Checked in this order because a connection error's text also carries the server's reason
    /// ("connection to server … failed: FATAL: password authentication failed"). A tool killed
    /// by a signal (the OOM killer, a shutdown) may succeed next time; an unknown message is
    /// unexpected.
    pub fn of_tool(killed: bool, message: &str) -> ErrorKind {
        const INTEGRITY: &[&str] = &[
            "malformed",
            "file is not a database",
            "corrupt",
            "checksum",
            "invalid page",
        ];
        const REFUSED: &[&str] = &[
            "authentication failed",
            "access denied",
            "permission denied",
            "no pg_hba.conf entry",
            "must be superuser",
        ];
        const CONFIG: &[&str] = &[
            "does not exist",
            "unknown database",
            "unable to open database",
            "version mismatch",
            "invalid connection option",
            "unrecognized option",
            "unknown option",
            "command not found",
        ];
        const TRANSIENT: &[&str] = &[
            "connection refused",
            "could not connect",
            "can't connect",
            "timeout expired",
            "timed out",
            "connection reset",
            "server closed the connection",
            "lost connection",
            "has gone away",
            "the database system is",
            "too many connections",
            "too many clients",
            "no space left on device",
            "could not translate host name",
            "unknown mysql server host",
            "temporary failure in name resolution",
            "database is locked",
            "deadlock",
            "lock wait timeout",
        ];
        let message = message.to_lowercase();
        let says = |needles: &[&str]| needles.iter().any(|n| message.contains(n));
        if says(INTEGRITY) {
            ErrorKind::Integrity
        } else if says(REFUSED) {
            ErrorKind::Refused
        } else if says(CONFIG) {
            ErrorKind::Config
        } else if killed || says(TRANSIENT) {
            ErrorKind::Transient
        } else {
            ErrorKind::Internal
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who reads a message. A message that tells how to override a refusal names the reader's own
/// parameter: `--force` on the command line, `"force": true` in an API body. The rule words the
/// message once; the front end that shows it chooses the words for its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Cli,
    Api,
}

impl Front {
    /// How this front end turns the boolean parameter `name` (snake_case) on.
    pub fn flag(self, name: &str) -> String {
        match self {
            Front::Cli => format!("--{}", name.replace('_', "-")),
            Front::Api => format!("\"{name}\": true"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorKind::*;

    /// By OS error number and by `io::ErrorKind`; a message around the error changes nothing.
    #[test]
    fn io_errors_by_number_and_kind() {
        use io::ErrorKind as K;
        let os = io::Error::from_raw_os_error;
        let cases = [
            (os(libc::ENOSPC), Transient),
            (os(libc::EDQUOT), Transient),
            (os(libc::ECONNREFUSED), Transient),
            (os(libc::ECONNRESET), Transient),
            (os(libc::ETIMEDOUT), Transient),
            (os(libc::EHOSTUNREACH), Transient),
            (os(libc::EAGAIN), Transient),
            (os(libc::EMFILE), Transient),
            (os(libc::EPIPE), Transient),
            (K::StorageFull.into(), Transient),
            (K::QuotaExceeded.into(), Transient),
            (K::ConnectionRefused.into(), Transient),
            (io::Error::new(K::TimedOut, "reading the socket"), Transient),
            (K::Interrupted.into(), Transient),
            (os(libc::EIO), Integrity),
            (K::InvalidData.into(), Integrity),
            (io::Error::new(K::UnexpectedEof, "short index"), Integrity),
            (os(libc::EACCES), Refused),
            (os(libc::EPERM), Refused),
            (os(libc::EROFS), Refused),
            (K::PermissionDenied.into(), Refused),
            (K::ReadOnlyFilesystem.into(), Refused),
            (os(libc::ENOENT), Config),
            (os(libc::ENOTDIR), Config),
            (os(libc::EISDIR), Config),
            (io::Error::new(K::NotFound, "/srv/app"), Config),
            (K::Unsupported.into(), Config),
            (os(libc::EEXIST), Internal),
            (os(libc::EINVAL), Internal),
            (K::AlreadyExists.into(), Internal),
            (K::InvalidInput.into(), Internal),
            (io::Error::other("what"), Internal),
        ];
        for (e, want) in cases {
            assert_eq!(ErrorKind::of_io(&e), want, "{e} ({:?})", e.kind());
        }
    }

    /// Messages as the tools print them (PostgreSQL 15-17, MariaDB 10-11, sqlite3 3.4x).
    #[test]
    fn tool_failures_by_message() {
        let cases = [
            (
                "pg_dump: error: connection to server at \"127.0.0.1\", port 5432 failed: \
              Connection refused | Is the server running on that host and accepting TCP/IP \
              connections?",
                Transient,
            ),
            (
                "pg_dump: error: connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" \
              failed: FATAL:  the database system is starting up",
                Transient,
            ),
            (
                "pg_dump: error: connection to server at \"db\" (10.0.0.5), port 5432 failed: \
              timeout expired",
                Transient,
            ),
            (
                "pg_dump: error: could not translate host name \"db\" to address",
                Transient,
            ),
            (
                "pg_dump: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  \
              password authentication failed for user \"postgres\"",
                Refused,
            ),
            (
                "pg_dump: error: query failed: ERROR:  permission denied for table secrets",
                Refused,
            ),
            (
                "pg_dump: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  \
              database \"nope\" does not exist",
                Config,
            ),
            (
                "pg_dump: error: aborting because of server version mismatch",
                Config,
            ),
            (
                "mariadb-dump: Got error: 2002: \"Can't connect to local server through socket \
              '/run/mysqld/mysqld.sock' (2)\" when trying to connect",
                Transient,
            ),
            (
                "mariadb-dump: Got error: 2005: \"Unknown MySQL server host 'db' (-2)\" when \
              trying to connect",
                Transient,
            ),
            (
                "mariadb-dump: Got error: 1045: \"Access denied for user 'root'@'localhost' \
              (using password: YES)\" when trying to connect",
                Refused,
            ),
            (
                "mariadb-dump: Got error: 1049: \"Unknown database 'nope'\" when selecting the \
              database",
                Config,
            ),
            (
                "mysqldump: Error 2013: Lost connection to server during query when dumping table",
                Transient,
            ),
            ("Error: in prepare, database is locked (5)", Transient),
            (
                "Error: unable to open database \"/srv/app.db\": unable to open database file",
                Config,
            ),
            ("Error: in prepare, file is not a database (26)", Integrity),
            (
                "Error: in prepare, database disk image is malformed (11)",
                Integrity,
            ),
            ("(no stderr output)", Internal),
            ("something nobody expected", Internal),
        ];
        for (message, want) in cases {
            assert_eq!(ErrorKind::of_tool(false, message), want, "{message}");
        }
        assert_eq!(ErrorKind::of_tool(true, "(no stderr output)"), Transient);
        // what the tool said outranks how it ended
        assert_eq!(ErrorKind::of_tool(true, "access denied"), Refused);
    }

    #[test]
    fn combining_keeps_the_most_serious_and_is_symmetric() {
        let order = [Integrity, Internal, Config, Refused, Transient];
        for (i, a) in order.iter().enumerate() {
            assert_eq!(a.combine(*a), *a);
            for b in &order[i + 1..] {
                assert_eq!(a.combine(*b), *a, "{a} with {b}");
                assert_eq!(b.combine(*a), *a, "{b} with {a}");
            }
        }
        assert!(Transient.is_transient() && !Internal.is_transient());
    }

    #[test]
    fn names_are_the_serde_names() {
        for k in ErrorKind::ALL {
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
    }
}
