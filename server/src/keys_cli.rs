//! `galaxy keys …`: master-key rotation without downtime. Add a key, activate it (new encryptions
//! use it; running servers pick it up the first time they meet it), rewrap every stored provider
//! key, then retire the old key once nothing uses it.

use galaxy_core::credentials::{rewrap_all, rows_per_master_key};
use galaxy_core::db::Db;
use galaxy_core::vault::{KEYRING_FILE, KeySource, KeyringFile, Vault};

use crate::config::{DbArgs, KeysAction};
use crate::startup::ensure_data_dir;

/// Runs one action; the text to print, or a one-line error.
pub async fn run(db: &DbArgs, action: KeysAction) -> Result<String, String> {
    ensure_data_dir(&db.data_dir).map_err(|e| e.to_string())?;
    let source = KeySource::from_env_or(&db.data_dir);
    // Creates the key file on first use, like the server does.
    let vault = Vault::open(source.clone()).map_err(|e| e.to_string())?;
    let path = db.data_dir.join(KEYRING_FILE);
    let edit = |f: &dyn Fn(&mut KeyringFile) -> Result<String, String>| -> Result<String, String> {
        if matches!(source, KeySource::Env(_)) {
            return Err("GALAXY_KEYRING is set: change that value instead; `galaxy keys` edits the key file".into());
        }
        let mut file = KeyringFile::read(&path).map_err(|e| e.to_string())?;
        let out = f(&mut file)?;
        file.write(&path).map_err(|e| e.to_string())?;
        Ok(out)
    };
    match action {
        KeysAction::List => {
            let database = Db::open(&db.url()).await.map_err(|e| e.to_string())?;
            let counts = rows_per_master_key(&database)
                .await
                .map_err(|e| e.to_string())?;
            let mut out = String::from("id  active  provider keys sealed\n");
            for k in vault.keys() {
                let n = counts
                    .iter()
                    .find(|(id, _)| *id == k.id)
                    .map_or(0, |(_, n)| *n);
                out.push_str(&format!(
                    "{:<3} {:<7} {n}\n",
                    k.id,
                    if k.active { "yes" } else { "" }
                ));
            }
            Ok(out)
        }
        KeysAction::Add => edit(&|file| Ok(format!("added master key {}", file.add_key()))),
        KeysAction::Activate { id } => edit(&|file| {
            file.activate(id).map_err(|e| e.to_string())?;
            Ok(format!(
                "master key {id} is active; run `galaxy keys rewrap` next"
            ))
        }),
        KeysAction::Rewrap => {
            let database = Db::open(&db.url()).await.map_err(|e| e.to_string())?;
            let n = rewrap_all(&database, &vault)
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "rewrapped {n} provider keys with master key {}",
                vault.active_key_id()
            ))
        }
        KeysAction::Retire { id } => {
            let database = Db::open(&db.url()).await.map_err(|e| e.to_string())?;
            let counts = rows_per_master_key(&database)
                .await
                .map_err(|e| e.to_string())?;
            if let Some((_, n)) = counts.iter().find(|(k, n)| *k == id && *n > 0) {
                return Err(format!(
                    "{n} provider keys still use master key {id}: run `galaxy keys rewrap` first"
                ));
            }
            edit(&|file| {
                file.retire(id).map_err(|e| e.to_string())?;
                Ok(format!("master key {id} retired"))
            })
        }
    }
}
