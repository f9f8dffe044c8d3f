#[test]
fn only_the_tail_of_a_flood_of_stderr_is_kept() {
    use std::io::Read;
    let flood = std::io::repeat(b'x')
        .take(64 << 20)
        .chain(&b"the real error"[..]);
    let mut read = 0;
    let kept = super::read_tail(
        Counting {
            inner: flood,
            read: &mut read,
        },
        super::STDERR_TAIL,
    );
    assert!(kept.len() <= 2 * super::STDERR_TAIL, "{}", kept.len());
    assert!(kept.ends_with(b"the real error"));
    assert!(super::tail(&kept).ends_with("the real error"));
    assert_eq!(read, (64 << 20) + 14, "the whole flood was drained");
}

/// Counts what went through, so the test knows the flood was really read.
struct Counting<'a, R> {
    inner: R,
    read: &'a mut usize,
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.read += n;
        Ok(n)
    }
}

use super::*;
use std::ffi::OsStr;

fn src(kind: DatabaseKind) -> DatabaseSource {
    DatabaseSource {
        name: "app".into(),
        kind,
        url: None,
        path: None,
        command: None,
        password_env: None,
        password_file: None,
    }
}

#[test]
fn urls_parse_with_credentials_decoded() {
    let s = src(DatabaseKind::Postgresql);
    let u = DbUrl::parse(
        &s,
        "postgresql://bob:p%40ss%3Aw@db.example:6543/my%20db?sslmode=require",
    )
    .unwrap();
    assert_eq!(u.user.as_deref(), Some("bob"));
    assert_eq!(u.password.as_deref(), Some("p@ss:w"));
    assert_eq!(u.host.as_deref(), Some("db.example"));
    assert_eq!(u.port, Some(6543));
    assert_eq!(u.database.as_deref(), Some("my db"));
    let env = u.pg_env(&s).unwrap();
    assert!(env.contains(&("PGPASSWORD", "p@ss:w".into())));
    assert!(env.contains(&("PGSSLMODE", "require".into())));
    let u = DbUrl::parse(&s, "mysql://root@[::1]/test").unwrap();
    assert_eq!((u.host.as_deref(), u.port), (Some("::1"), None));
    assert_eq!(u.password, None);
}

#[test]
fn url_errors_never_echo_the_url() {
    let s = src(DatabaseKind::Postgresql);
    let e = DbUrl::parse(&s, "postgresql://u:secret@h:notaport/db").unwrap_err();
    assert!(!e.to_string().contains("secret"), "{e}");
    assert!(e.to_string().contains("port"), "{e}");
}

#[test]
fn passwords_stay_out_of_argv() {
    let s = src(DatabaseKind::Postgresql);
    let u = DbUrl::parse(&s, "postgresql://u:s3cret@h:5433/db").unwrap();
    let cmd = pg_dump_command(&s, &u).unwrap();
    assert!(cmd
        .get_args()
        .all(|a| !a.to_string_lossy().contains("s3cret")));
    let envs: Vec<_> = cmd.get_envs().collect();
    assert!(envs.contains(&(OsStr::new("PGPASSWORD"), Some(OsStr::new("s3cret")))));
    // Dumps load over an existing schema: each object dropped (if there) before it is created.
    let args: Vec<_> = cmd.get_args().collect();
    assert_eq!(args, ["--no-password", "--clean", "--if-exists"]);
    assert!(envs.contains(&(OsStr::new("PGPORT"), Some(OsStr::new("5433")))));

    let s = src(DatabaseKind::Mysql);
    let u = DbUrl::parse(&s, "mysql://u:s3cret@h/db").unwrap();
    let cmd = my_dump_command("mariadb-dump", Path::new("/scratch/app.cnf"), "db");
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(args[0], "--defaults-extra-file=/scratch/app.cnf");
    assert!(args.iter().any(|a| a == "--add-drop-table"), "{args:?}");
    assert!(args
        .iter()
        .all(|a| !a.contains("s3cret") && !a.contains("-p")));
    assert!(u.my_defaults(&s).unwrap().contains("password=\"s3cret\""));
}

#[test]
fn mysql_defaults_quote_the_password() {
    let s = src(DatabaseKind::Mysql);
    let u = DbUrl::parse(&s, "mysql://root:a%22b%5Cc@127.0.0.1:3306/test").unwrap();
    let d = u.my_defaults(&s).unwrap();
    assert!(d.contains("password=\"a\\\"b\\\\c\"\n"), "{d}");
    assert!(d.contains("port=3306\n"));
}

#[test]
fn dump_names_are_one_component() {
    let mut s = src(DatabaseKind::Postgresql);
    assert_eq!(archive_name(&s).unwrap(), "databases/app.postgresql.sql");
    s.name = "../etc".into();
    assert!(archive_name(&s).is_err());
}

#[test]
fn load_hints_follow_the_dump_kind() {
    let mut pg = src(DatabaseKind::Postgresql);
    pg.url = Some("postgresql://postgres@127.0.0.1:5432/test".into());
    let h = load_hint(
        "databases/app.postgresql.sql",
        Path::new("/r/databases/app.postgresql.sql"),
        &[pg],
    );
    assert_eq!(
        h.as_deref(),
        Some("psql -d test -f /r/databases/app.postgresql.sql")
    );
    let h = load_hint("databases/x.mysql.sql", Path::new("/r/x"), &[]).unwrap();
    assert_eq!(h, "mariadb DATABASE < /r/x");
    assert!(load_hint("files/a", Path::new("/r/a"), &[]).is_none());
}
