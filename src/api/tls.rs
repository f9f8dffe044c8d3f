//! TLS for the API (`[server.tls]`): rustls around each accepted stream, before the head check
//! and async-h1 (`conn`), so nothing of HTTP is read or written in the clear.
//!
//! The handshake runs on the connection's own task, bounded by [`HANDSHAKE_TIMEOUT`], so a
//! client that never finishes it holds only itself, never the accept loop. The certificate
//! chain and key are PEM files; SIGHUP re-reads them (`reload`): new connections get the new
//! pair, open ones keep theirs, and a pair that does not load (unreadable, not PEM, a key that
//! does not match) leaves the old one in service with the reason logged.

use crate::config::TlsFiles;
use futures_rustls::rustls::{self, ServerConfig};
use futures_rustls::server::TlsStream;
use futures_rustls::TlsAcceptor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The files and the server configuration made from them (replaced on reload).
pub struct Tls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// Reads and checks the pair; the error names the file and what is wrong with it (never
    /// any of its content).
    pub fn load(files: &TlsFiles) -> Result<Tls, String> {
        Ok(Tls {
            files: files.clone(),
            current: RwLock::new(Arc::new(server_config(files)?)),
        })
    }

    /// Re-reads the files (SIGHUP). On failure the pair in service stays; the error says why.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = Arc::new(server_config(&self.files)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }

    /// The handshake on `stream`, bounded in time; `None` (logged) when it fails or times out.
    pub async fn accept(&self, stream: TcpStream, peer: SocketAddr) -> Option<Stream> {
        let acceptor = self.acceptor();
        let shake = async { Some(acceptor.accept(stream).await) };
        let timeout = async {
            smol::Timer::after(HANDSHAKE_TIMEOUT).await;
            None
        };
        match smol::future::or(shake, timeout).await {
            Some(Ok(tls)) => Some(Stream::Tls(Arc::new(Mutex::new(tls)))),
            // A plain-HTTP client or a scanner: nothing of ours was sent but a TLS alert.
            Some(Err(e)) => {
                log::info!("API: {peer}: TLS handshake failed: {e}");
                None
            }
            None => {
                log::info!(
                    "API: {peer}: TLS handshake not done within {} s; closed",
                    HANDSHAKE_TIMEOUT.as_secs()
                );
                None
            }
        }
    }
}

fn server_config(files: &TlsFiles) -> Result<ServerConfig, String> {
    let cert_file = files.cert.display();
    let key_file = files.key.display();
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("server.tls.cert {cert_file}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "server.tls.cert {cert_file}: no CERTIFICATE block in it (a PEM certificate chain, \
             the server's own certificate first)"
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        format!("server.tls.key {key_file}: {e} (a PEM private key: PKCS#8, PKCS#1 or SEC1)")
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("server.tls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!("server.tls: the key {key_file} does not fit the certificate {cert_file}: {e}")
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// An accepted connection, plain or TLS. Clones share it, as async-h1 needs; the TLS stream is
/// behind a lock held only for one poll, never across an await.
#[derive(Clone)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Arc<Mutex<TlsStream<TcpStream>>>),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut *lock(s)).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut *lock(s)).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut *lock(s)).poll_flush(cx),
        }
    }

    /// TLS: close_notify, then the write half of the socket shut; plain: the write half shut.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(&mut *lock(s)).poll_close(cx),
        }
    }
}
