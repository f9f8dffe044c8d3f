//! `key` (the encryption key files) and `token` (API tokens), offline or through the API.

use crate::*;

/// `backupd token create|list|revoke`, offline: through the store like every offline writer; a
/// log that `serve` holds gets the API route that does the same.
/// `backupd key …`: offline on the data directory's key files.
pub(crate) fn key(command: KeyCmd) -> anyhow::Result<()> {
    use backupd::keys::{passphrase, KeyParams, Keyring, NEW_PASSPHRASE_ENV};
    let encrypted = |at: &Where| -> anyhow::Result<Config> {
        let config = load_config(at, None)?;
        if config.encryption.is_none() {
            return Err(ConfigFailure(
                "key: the configuration has no [encryption] section: backups are not encrypted"
                    .into(),
            )
            .into());
        }
        Ok(config)
    };
    let new_passphrase = |file: Option<&std::path::Path>| {
        passphrase(file, NEW_PASSPHRASE_ENV).map_err(|e| match e {
            backupd::keys::KeyError::NoPassphrase => ConfigFailure(format!(
                "key: no new passphrase given: set {NEW_PASSPHRASE_ENV} or --new-passphrase-file"
            )),
            e => ConfigFailure(format!("key: new passphrase: {e}")),
        })
    };
    match command {
        KeyCmd::List { at } => {
            let config = encrypted(&at)?;
            for k in Keyring::in_data_dir(&config.data_dir).list()? {
                println!("{}", serde_json::to_string(&k)?);
            }
        }
        KeyCmd::Add {
            new_passphrase_file,
            at,
        } => {
            let mut config = encrypted(&at)?;
            let new = new_passphrase(new_passphrase_file.as_deref())?;
            // The first key file of a data directory with nothing sealed may be made here.
            let u = unlock(&mut config, Init::Allowed)?.context("encryption is configured")?;
            let id =
                Keyring::in_data_dir(&config.data_dir).add(&u.key, &new, KeyParams::DEFAULT)?;
            println!("added key {id}");
        }
        KeyCmd::Remove { id, at } => {
            let mut config = encrypted(&at)?;
            // Only a holder of a working passphrase (or the key file) may remove one.
            unlock(&mut config, Init::Refused)?;
            Keyring::in_data_dir(&config.data_dir).remove(&id)?;
            println!("removed key {id}");
        }
        KeyCmd::Passwd {
            new_passphrase_file,
            at,
        } => {
            let mut config = encrypted(&at)?;
            let new = new_passphrase(new_passphrase_file.as_deref())?;
            let u = unlock(&mut config, Init::Refused)?.context("encryption is configured")?;
            let Some(old) = u.key_file_id else {
                bail!("key passwd changes a key file's passphrase; with key_file use `key add`");
            };
            let id = Keyring::in_data_dir(&config.data_dir).passwd(
                &u.key,
                &old,
                &new,
                KeyParams::DEFAULT,
            )?;
            println!("replaced key {old} by {id}");
        }
        KeyCmd::Export { remote, at } => {
            let config = encrypted(&at)?;
            let store = open_remote(&config, &remote)?;
            for k in backupd::remote::recover::export_keys(store.as_ref(), &config.data_dir)? {
                println!("exported {k} to remote {remote}");
            }
        }
        KeyCmd::Import { remote, at } => {
            let config = load_config(&at, None)?;
            let store = open_remote(&config, &remote)?;
            let keys = backupd::remote::recover::import_keys(store.as_ref(), &config.data_dir)?;
            if keys.is_empty() {
                bail!(
                    "remote {remote} holds no key files under keys/ (`key export` puts them there)"
                );
            }
            for k in keys {
                println!("imported {k} from remote {remote}");
            }
        }
    }
    Ok(())
}

pub(crate) fn token(command: TokenCmd) -> anyhow::Result<()> {
    use backupd::auth::{self, token, Scope};
    match command {
        TokenCmd::Create {
            name,
            scopes,
            expires,
            at,
        } => {
            let config = load_config(&at, None)?;
            let scopes = scopes
                .iter()
                .map(|s| {
                    Scope::parse(s).with_context(|| {
                        format!("--scope {s:?} is not read, operate, manage, restore or admin")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let now = backupd::events::Ts::from(time::OffsetDateTime::now_utc());
            let expires_at = auth::expiry(expires.as_deref(), now)
                .map_err(|why| anyhow::anyhow!("--expires: {why}"))?;
            // A token must not make a lost log look present (`refuse_lost_log`).
            refuse_lost_log(&config)?;
            let body = serde_json::json!({"name": name, "scopes": scopes, "expires": expires});
            let route = format!("POST {}/tokens {body}", api::BASE);
            let store = EventStore::open(&config.events_path()).map_err(held(route))?;
            let (service, _) = Service::open(store, Arc::new(SystemClock), 0)?;
            let secret = token::generate().context("reading random bytes for the token")?;
            let command = Command::CreateToken {
                name: name.clone(),
                scopes: scopes.clone(),
                expires_at,
                hash: secret.hash(),
            };
            smol::block_on(service.execute(command, Meta::actor("cli")))
                .map_err(|e| anyhow::anyhow!("token {name:?} not created: {e}"))?;
            println!("{}", secret.expose());
            let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            eprintln!(
                "token {name:?} created: scopes {}; expires {}. The secret above is shown this \
                 once and stored nowhere: keep it now, and send it as `Authorization: Bearer <token>`",
                names.join(", "),
                expires_at.map_or("never".to_string(), |t| t.to_string())
            );
            Ok(())
        }
        TokenCmd::List { at } => {
            let config = load_config(&at, None)?;
            let route = format!("GET {}/tokens", api::BASE);
            let store = EventStore::open_read_only(&config.events_path()).map_err(held(route))?;
            let (_store, state) = offline_state(store)?;
            let now = backupd::events::Ts::from(time::OffsetDateTime::now_utc());
            let mut out = std::io::stdout().lock();
            for t in state.tokens.by_name.values() {
                match writeln!(out, "{}", api::token_json(t, now)) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    other => other?,
                }
            }
            Ok(())
        }
        TokenCmd::Revoke { name, at } => {
            let config = load_config(&at, None)?;
            let route = format!("DELETE {}/tokens/{name}", api::BASE);
            let store = EventStore::open_existing(&config.events_path()).map_err(held(route))?;
            let (service, _) = Service::open(store, Arc::new(SystemClock), 0)?;
            let command = Command::RevokeToken { name: name.clone() };
            smol::block_on(service.execute(command, Meta::actor("cli")))
                .map_err(|e| anyhow::anyhow!("token {name:?} not revoked: {e}"))?;
            println!("token {name:?} revoked");
            Ok(())
        }
    }
}
