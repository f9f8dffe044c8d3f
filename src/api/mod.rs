//! The REST API on tide under `/api/backup` (and `/metrics` at the root): routes, JSON errors,
//! the server; each resource's JSON shapes live in its own module.
//!
//! Every tide type stays inside this module so the HTTP server can be swapped. Handlers turn a
//! request into a `Command` for the `Service` (actor `api:<token name>`, set by `access`) or read
//! through `Service::read` what a `queries` function computes from the projections, and only
//! render it; they never touch the log directly, except to page it for `events`.

mod access;
mod backups;
mod browse;
mod conn;
mod error;
mod events;
mod health;
mod health_history;
mod idempotency;
mod input;
pub mod jobs;
pub mod metrics;
mod notifications;
mod performance;
mod reports;
mod restore;
mod restore_db;
mod retention;
mod routes;
mod runs;
mod scheduler;
mod sources;
mod state;
pub mod tls;
mod tokens;
mod trigger_preview;
mod verify_remote;
mod zoned;

pub use error::ApiError;
pub use input::MAX_BODY;
pub use routes::{Route, ROOT_ROUTES, ROUTES};
pub use tokens::token_json;

use crate::config::Config;
use crate::decide::Command;
use crate::events::{Envelope, Ts};
use crate::progress::Progress;
use crate::service::{Meta, Service, ServiceError};
use chrono_tz::Tz;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use tide::Response;

/// Every route lives below this path.
pub const BASE: &str = "/api/backup";

/// What the handlers share: the service, live progress, the scheduler's zone and defaults, and
/// the configuration (the data directory and database sources verify and restore need).
#[derive(Clone)]
pub struct ApiContext {
    pub service: Service,
    pub progress: Progress,
    pub zone: Tz,
    /// The configured misfire grace for jobs created without one.
    pub default_misfire_grace: Option<u64>,
    pub config: Arc<Config>,
    jobs_cache: jobs::ListCache,
}

impl ApiContext {
    /// `zone` is the scheduler's (it may differ from `config.timezone` in tests); the default
    /// misfire grace is the configuration's.
    pub fn new(service: Service, progress: Progress, zone: Tz, config: Arc<Config>) -> Self {
        ApiContext {
            service,
            progress,
            zone,
            default_misfire_grace: config.misfire_grace_secs,
            config,
            jobs_cache: jobs::ListCache::default(),
        }
    }

    fn now(&self) -> Ts {
        Ts::from(self.service.clock().now())
    }

    async fn execute(&self, command: Command, meta: Meta) -> Result<Vec<Envelope>, ServiceError> {
        self.service.execute(command, meta).await
    }
}

/// A bound, not yet serving API: bind first so the caller can log the real address (port 0).
/// Tide routes; the accept loop is ours (see `run`).
pub struct ApiServer {
    app: tide::Server<ApiContext>,
    listener: TcpListener,
    addr: SocketAddr,
    tls: Option<Arc<tls::Tls>>,
}

pub fn bind(ctx: ApiContext, addr: SocketAddr) -> io::Result<ApiServer> {
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    Ok(ApiServer {
        app: routes::build(ctx),
        listener,
        addr,
        tls: None,
    })
}

impl ApiServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve over TLS with this certificate (shared with whoever reloads it on SIGHUP).
    pub fn with_tls(mut self, tls: Option<Arc<tls::Tls>>) -> ApiServer {
        self.tls = tls;
        self
    }

    /// Serve until the future is dropped (that closes the listener: nothing new is accepted;
    /// connections already open finish on their own tasks).
    pub async fn run(self) -> io::Result<()> {
        let listener = smol::net::TcpListener::try_from(self.listener)?;
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: not fatal for
                    // the listener; a short pause keeps a persistent fault from spinning.
                    log::warn!("API: accept failed: {e}");
                    smol::Timer::after(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let app = self.app.clone();
            let tls = self.tls.clone();
            smol::spawn(async move {
                let local = stream.local_addr().ok();
                // The handshake on this connection's task: a slow client never holds the loop.
                let stream = match tls {
                    None => tls::Stream::Plain(stream),
                    Some(tls) => match tls.accept(stream, peer).await {
                        Some(stream) => stream,
                        None => return,
                    },
                };
                let mut conn = conn::Conn::new(stream);
                // One request at a time: the head is checked here first (see `conn`), then
                // async-h1 decodes it from the connection's buffer and answers.
                loop {
                    let close_after = match conn.next_head(local).await {
                        conn::Head::Request { close_after } => close_after,
                        conn::Head::Closed => break,
                        conn::Head::Refused(refusal) => {
                            // It closes the connection itself.
                            conn.refuse(&refusal, peer).await;
                            return;
                        }
                    };
                    let endpoint = |mut req: tide::http::Request| {
                        let app = app.clone();
                        async move {
                            req.set_peer_addr(Some(peer));
                            req.set_local_addr(local);
                            app.respond(req).await
                        }
                    };
                    let served = async_h1::server::Server::new(conn.clone(), endpoint)
                        .accept_one()
                        .await;
                    match served {
                        Ok(async_h1::server::ConnectionStatus::KeepAlive) if !close_after => {}
                        Ok(_) => break,
                        Err(e) => {
                            log::warn!("API: connection from {peer}: {e}");
                            break;
                        }
                    }
                }
                // An orderly end: over TLS a close_notify, so the client can tell the answer
                // was not cut short; bounded, as a client that reads nothing could stall it.
                let close = async {
                    let _ = smol::io::AsyncWriteExt::close(&mut conn).await;
                };
                smol::future::or(close, async {
                    smol::Timer::after(std::time::Duration::from_secs(2)).await;
                })
                .await;
            })
            .detach();
        }
    }
}

fn json(status: u16, body: &serde_json::Value) -> Response {
    // Serialising a `Value` cannot fail.
    json_bytes(
        status,
        std::sync::Arc::new(serde_json::to_vec(body).unwrap_or_default()),
    )
}

fn json_bytes(status: u16, body: std::sync::Arc<Vec<u8>>) -> Response {
    let bytes = std::sync::Arc::try_unwrap(body).unwrap_or_else(|shared| (*shared).clone());
    let mut body = tide::Body::from_bytes(bytes);
    body.set_mime(tide::http::mime::JSON);
    let mut res = Response::new(status);
    res.set_body(body);
    res
}
