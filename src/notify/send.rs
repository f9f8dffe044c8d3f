//! One delivery attempt over the wire: SMTP by lettre's blocking transport (rustls), a webhook
//! by a blocking POST signed with HMAC-SHA256. Blocking: called from the queue's threads or
//! through `smol::unblock`, never on the executor.

use super::message::{webhook_body, Message};
use crate::config::notify::{Channel, Email, Tls, Transport, Webhook};
use hmac::{KeyInit, Mac};
use std::time::Duration;

/// How long one attempt may take (connect, TLS, dialogue).
const TIMEOUT: Duration = Duration::from_secs(20);

/// `Err` is the reason recorded in `notification_failed`.
pub fn deliver(channel: &Channel, m: &Message) -> Result<(), String> {
    match &channel.transport {
        Transport::Email(e) => email(e, m),
        Transport::Webhook(w) => webhook(&channel.name, w, m),
    }
}

fn email(e: &Email, m: &Message) -> Result<(), String> {
    use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls as SmtpTls, TlsParameters};
    use lettre::{SmtpTransport, Transport as _};
    let mut builder = lettre::Message::builder()
        .from(
            e.from
                .parse::<Mailbox>()
                .map_err(|x| format!("from: {x}"))?,
        )
        .subject(m.subject.clone());
    for to in &e.to {
        builder = builder.to(to.parse::<Mailbox>().map_err(|x| format!("to: {x}"))?);
    }
    let mail = match &m.html_file {
        // The report page as the HTML alternative: it is self-contained (inline CSS and SVG),
        // so the mail shows the same page the report job wrote.
        Some(file) => {
            let html = std::fs::read_to_string(file)
                .map_err(|x| format!("the report page {file}: {x}"))?;
            builder.multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(m.text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(html),
                    ),
            )
        }
        None => builder.header(ContentType::TEXT_PLAIN).body(m.text.clone()),
    }
    .map_err(|x| format!("building the mail: {x}"))?;
    let tls = || -> Result<TlsParameters, String> {
        let mut params = TlsParameters::builder(e.server.clone());
        if let Some(pem) = &e.ca_pem {
            params = params.add_root_certificate(
                Certificate::from_pem(pem).map_err(|x| format!("ca_file: {x}"))?,
            );
        }
        params
            .build_rustls()
            .map_err(|x| format!("smtp {} tls: {x}", e.server))
    };
    // `builder_dangerous` only means "no TLS chosen yet": it is chosen on the next line, with
    // rustls verifying the server's name against the public roots (and `ca_file`'s).
    let transport = SmtpTransport::builder_dangerous(&e.server)
        .tls(match e.tls {
            Tls::Starttls => SmtpTls::Required(tls()?),
            Tls::Implicit => SmtpTls::Wrapper(tls()?),
            Tls::None => SmtpTls::None,
        })
        .port(e.port)
        .timeout(Some(TIMEOUT));
    let transport = match (&e.username, &e.password) {
        (Some(user), Some(password)) => {
            transport.credentials(Credentials::new(user.clone(), password.0.clone()))
        }
        _ => transport,
    };
    transport
        .build()
        .send(&mail)
        .map(|_| ())
        .map_err(|x| format!("smtp {}:{}: {}", e.server, e.port, chain(&x)))
}

/// The hex HMAC-SHA256 of `body` under `key`: `X-Backupd-Signature: sha256=<hex>`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn webhook(channel: &str, w: &Webhook, m: &Message) -> Result<(), String> {
    let body = serde_json::to_vec(&webhook_body(channel, m)).map_err(|x| x.to_string())?;
    let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
    let mut req = agent
        .post(&w.url)
        .set("Content-Type", "application/json")
        .set("User-Agent", concat!("backupd/", env!("CARGO_PKG_VERSION")));
    for (k, v) in &w.headers {
        req = req.set(k, v);
    }
    if let Some(secret) = &w.secret {
        req = req.set(
            "X-Backupd-Signature",
            &signature(secret.0.as_bytes(), &body),
        );
    }
    // A webhook's path often is its secret (Slack's, ntfy's topic): the recorded reason names
    // only the host, and whatever an error quotes of the URL is cut back to it.
    let shown = redact(&w.url);
    let reason = match req.send_bytes(&body) {
        Ok(_) => return Ok(()),
        Err(ureq::Error::Status(code, resp)) => {
            format!("{shown} answered {code} {}", resp.status_text())
        }
        Err(x) => format!("{shown}: {}", chain(&x)),
    };
    Err(reason.replace(&w.url, &shown))
}

/// `scheme://host[:port]/…`: the URL without its path and query.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    // userinfo is a secret too
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}/…")
}

/// An error with its causes, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_webhook_url_is_shown_without_its_path_or_userinfo() {
        assert_eq!(
            super::redact("https://hooks.slack.com/services/T0/B0/XXXX?x=1"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            super::redact("http://user:pw@127.0.0.1:9000/hook"),
            "http://127.0.0.1:9000/…"
        );
    }

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2
        assert_eq!(
            super::signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
