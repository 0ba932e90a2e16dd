//! The key vault: provider keys encrypted with AES-256-GCM under a versioned keyring.
//!
//! * Every encryption uses a fresh random 96-bit nonce (stored before the ciphertext). With random
//!   nonces one key must not seal more than about 2³² messages; provider keys are few, and the
//!   keyring lets the master key be rotated long before that.
//! * The associated data binds a ciphertext to its workspace, provider, credential id and — since
//!   AAD version 2 — its base URL: a ciphertext copied into another row does not decrypt, and a
//!   database edit that points a stored key at another endpoint makes it undecryptable instead of
//!   sending it there. Each row records the AAD version it was sealed under; `galaxy keys rewrap`
//!   brings older rows to the current one.
//! * Each sealed value carries the id of the master key that sealed it, so the master key can be
//!   rotated without downtime: add a key, make it active (new writes use it), rewrap every row,
//!   retire the old key. A server that meets a key id it does not know re-reads its keyring once,
//!   so keys added by `galaxy keys …` while it runs are picked up; and before sealing it checks
//!   whether the key file changed, so a key activated while it runs is the one it seals with
//!   (never a key about to be retired).
//! * The keyring comes from `GALAXY_KEYRING` (the keyring JSON) or from `<data-dir>/keyring.json`,
//!   created with mode 0600 on first start — only while no provider key is stored: a missing file
//!   when keys are stored, a file other users can read, a malformed keyring, or one that cannot
//!   open the stored keys stops the server at start (`galaxy serve`'s start-up checks). Writes
//!   are atomic, synced (file, then folder) and under an exclusive lock.
//! * Decrypted keys are `secrecy::SecretString`: no `Debug`, no `Serialize`, zeroed on drop. The
//!   master keys are zeroed too: the ciphers (aes-gcm's `zeroize`), the decoded bytes, and the
//!   base64 text of a keyring once read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// Environment variable holding the keyring JSON (instead of the key file).
pub const KEYRING_ENV: &str = "GALAXY_KEYRING";
/// File name of the keyring in the data directory.
pub const KEYRING_FILE: &str = "keyring.json";

const NONCE_LEN: usize = 12;

/// The associated-data layout new seals use (1: workspace, provider, id; 2: and the base URL).
pub const AAD_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("{0}: the keyring is malformed: {1}")]
    Malformed(String, String),
    #[error("{0}: cannot read or write the keyring: {1}")]
    Io(String, String),
    #[error("no master key with id {0} in the keyring")]
    UnknownKey(u32),
    #[error(
        "the stored key does not decrypt (tampered, copied from another row, or wrong keyring)"
    )]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
    #[error("{0}")]
    Refused(String),
}

/// The keyring as stored (file or environment).
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyringFile {
    pub active: u32,
    pub keys: Vec<KeyEntry>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct KeyEntry {
    pub id: u32,
    /// 32 random bytes, base64.
    pub key: String,
    pub created_at: i64,
}

impl Drop for KeyEntry {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// One key's public facts, for `galaxy keys list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: u32,
    pub active: bool,
    pub created_at: i64,
}

struct Keyring {
    active: u32,
    ciphers: BTreeMap<u32, Aes256Gcm>,
    info: Vec<KeyInfo>,
}

impl KeyringFile {
    /// A keyring with one fresh random key, active.
    pub fn generate() -> KeyringFile {
        KeyringFile {
            active: 1,
            keys: vec![KeyEntry::generate(1)],
        }
    }

    fn parse(origin: &str, text: &str) -> Result<KeyringFile, VaultError> {
        let file: KeyringFile = serde_json::from_str(text)
            .map_err(|e| VaultError::Malformed(origin.to_owned(), e.to_string()))?;
        file.check(origin)?;
        Ok(file)
    }

    fn check(&self, origin: &str) -> Result<(), VaultError> {
        let bad = |m: String| Err(VaultError::Malformed(origin.to_owned(), m));
        if self.keys.is_empty() {
            return bad("it has no keys".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for k in &self.keys {
            if !seen.insert(k.id) {
                return bad(format!("key id {} appears twice", k.id));
            }
            match B64.decode(&k.key) {
                Ok(bytes) if bytes.len() == 32 => {}
                _ => return bad(format!("key {} is not 32 bytes of base64", k.id)),
            }
        }
        if !seen.contains(&self.active) {
            return bad(format!(
                "the active key {} is not in the keyring",
                self.active
            ));
        }
        Ok(())
    }

    fn to_keyring(&self) -> Result<Keyring, VaultError> {
        let mut ciphers = BTreeMap::new();
        for k in &self.keys {
            let malformed = || VaultError::Malformed("keyring".into(), format!("key {}", k.id));
            let decoded = Zeroizing::new(B64.decode(&k.key).map_err(|_| malformed())?);
            let mut bytes = Zeroizing::new([0u8; 32]);
            if decoded.len() != bytes.len() {
                return Err(malformed());
            }
            bytes.copy_from_slice(&decoded);
            let mut key = Key::<Aes256Gcm>::from(*bytes);
            ciphers.insert(k.id, Aes256Gcm::new(&key));
            key.zeroize();
        }
        Ok(Keyring {
            active: self.active,
            ciphers,
            info: self
                .keys
                .iter()
                .map(|k| KeyInfo {
                    id: k.id,
                    active: k.id == self.active,
                    created_at: k.created_at,
                })
                .collect(),
        })
    }

    /// Adds a fresh key (not active yet) and returns its id.
    pub fn add_key(&mut self) -> u32 {
        let id = self.keys.iter().map(|k| k.id).max().unwrap_or(0) + 1;
        self.keys.push(KeyEntry::generate(id));
        id
    }

    pub fn activate(&mut self, id: u32) -> Result<(), VaultError> {
        if !self.keys.iter().any(|k| k.id == id) {
            return Err(VaultError::UnknownKey(id));
        }
        self.active = id;
        Ok(())
    }

    /// Removes a key that is not active. (Check first that no row still uses it.)
    pub fn retire(&mut self, id: u32) -> Result<(), VaultError> {
        if id == self.active {
            return Err(VaultError::Refused(format!(
                "key {id} is active; activate another key and rewrap first"
            )));
        }
        let before = self.keys.len();
        self.keys.retain(|k| k.id != id);
        if self.keys.len() == before {
            return Err(VaultError::UnknownKey(id));
        }
        Ok(())
    }

    /// Reads the keyring file at `path`.
    pub fn read(path: &Path) -> Result<KeyringFile, VaultError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| VaultError::Io(origin.clone(), e.to_string()))?;
        KeyringFile::parse(&origin, &text)
    }

    /// Writes the keyring file atomically with mode 0600, durably (the file and then its folder
    /// synced), holding an exclusive lock (`<file>.lock`) so two writers never interleave.
    pub fn write(&self, path: &Path) -> Result<(), VaultError> {
        let origin = path.display().to_string();
        let io = |e: std::io::Error| VaultError::Io(origin.clone(), e.to_string());
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| VaultError::Io(origin.clone(), e.to_string()))?;
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.with_extension("json.lock"))
            .map_err(io)?;
        lock.lock().map_err(io)?;
        let tmp = path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut f = options.open(&tmp).map_err(io)?;
            f.write_all(json.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        #[cfg(unix)]
        {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        drop(lock);
        Ok(())
    }
}

impl KeyEntry {
    fn generate(id: u32) -> KeyEntry {
        KeyEntry {
            id,
            key: B64.encode(rand::random::<[u8; 32]>()),
            created_at: crate::db::now_ms(),
        }
    }
}

/// Where the keyring comes from. Its `Debug` never shows the keyring itself.
#[derive(Clone)]
pub enum KeySource {
    /// The JSON itself (from `GALAXY_KEYRING`).
    Env(String),
    /// A keyring file (created on first start when missing).
    File(PathBuf),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env(_) => f.write_str("KeySource::Env(<redacted>)"),
            KeySource::File(path) => f.debug_tuple("KeySource::File").field(path).finish(),
        }
    }
}

impl KeySource {
    /// `GALAXY_KEYRING` when set, else `<data_dir>/keyring.json`.
    pub fn from_env_or(data_dir: &Path) -> KeySource {
        match std::env::var(KEYRING_ENV) {
            Ok(json) => KeySource::Env(json),
            Err(_) => KeySource::File(data_dir.join(KEYRING_FILE)),
        }
    }

    /// The key file's modification time (`None` for the environment, or an unreadable file).
    fn modified(&self) -> Option<SystemTime> {
        match self {
            KeySource::Env(_) => None,
            KeySource::File(path) => std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        }
    }

    fn load(&self, create: bool) -> Result<KeyringFile, VaultError> {
        match self {
            KeySource::Env(json) => KeyringFile::parse(KEYRING_ENV, json),
            KeySource::File(path) if create && !path.exists() => {
                let file = KeyringFile::generate();
                file.write(path)?;
                tracing::info!(path = %path.display(), "created a new master keyring");
                Ok(file)
            }
            KeySource::File(path) => KeyringFile::read(path),
        }
    }
}

/// A value sealed by the vault: the master key id and base64(nonce ‖ ciphertext ‖ tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: u32,
    pub blob: String,
    /// The associated-data layout it was sealed under ([`AAD_VERSION`] for new seals).
    pub aad_version: u32,
}

/// What a sealed value is bound to (authenticated, not secret).
pub struct Binding<'a> {
    pub workspace_id: &'a str,
    pub provider: &'a str,
    pub credential_id: &'a str,
    /// Where the key is sent (OpenAI-compatible keys); `None` for first-party providers.
    pub base_url: Option<&'a str>,
}

impl Binding<'_> {
    fn aad(&self, version: u32) -> Result<Vec<u8>, VaultError> {
        let (ws, provider, id) = (self.workspace_id, self.provider, self.credential_id);
        match version {
            1 => Ok(format!("galaxy/provider-key/v1\0{ws}\0{provider}\0{id}").into_bytes()),
            2 => {
                let url = match self.base_url {
                    None => "-".to_owned(),
                    Some(url) => format!("+{url}"),
                };
                Ok(format!("galaxy/provider-key/v2\0{ws}\0{provider}\0{id}\0{url}").into_bytes())
            }
            _ => Err(VaultError::Decrypt),
        }
    }
}

/// The vault the server holds: the keyring, re-read when an unknown key id shows up.
pub struct Vault {
    source: KeySource,
    ring: RwLock<Keyring>,
    /// The key file's modification time when it was read (file sources).
    stamp: Mutex<Option<SystemTime>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault")
    }
}

impl Vault {
    /// Loads the keyring, creating the key file on first start.
    pub fn open(source: KeySource) -> Result<Vault, VaultError> {
        let ring = source.load(true)?.to_keyring()?;
        let stamp = Mutex::new(source.modified());
        Ok(Vault {
            source,
            ring: RwLock::new(ring),
            stamp,
        })
    }

    /// A vault over a given keyring (tests, tools).
    pub fn from_file(file: &KeyringFile) -> Result<Vault, VaultError> {
        file.check("keyring")?;
        Ok(Vault {
            source: KeySource::Env(serde_json::to_string(file).unwrap_or_default()),
            ring: RwLock::new(file.to_keyring()?),
            stamp: Mutex::new(None),
        })
    }

    /// Re-reads the keyring from its source.
    pub fn reload(&self) -> Result<(), VaultError> {
        let modified = self.source.modified();
        let ring = self.source.load(false)?.to_keyring()?;
        if let Ok(mut guard) = self.ring.write() {
            *guard = ring;
        }
        if let Ok(mut stamp) = self.stamp.lock() {
            *stamp = modified;
        }
        tracing::info!("master keyring reloaded");
        Ok(())
    }

    /// Re-reads the key file if it changed since it was read (a key activated by `galaxy keys`
    /// while the server runs), so what is sealed next uses the active key.
    fn reload_if_changed(&self) -> Result<(), VaultError> {
        let now = self.source.modified();
        let changed = self.stamp.lock().map(|s| *s != now).unwrap_or(true);
        if changed && now.is_some() {
            self.reload()?;
        }
        Ok(())
    }

    pub fn active_key_id(&self) -> u32 {
        self.ring.read().map(|r| r.active).unwrap_or(0)
    }

    pub fn keys(&self) -> Vec<KeyInfo> {
        self.ring.read().map(|r| r.info.clone()).unwrap_or_default()
    }

    /// Seals `plaintext` with the active key.
    pub fn seal(
        &self,
        plaintext: &SecretString,
        binding: &Binding<'_>,
    ) -> Result<Sealed, VaultError> {
        self.reload_if_changed()?;
        let ring = self.ring.read().map_err(|_| VaultError::Encrypt)?;
        let cipher = ring
            .ciphers
            .get(&ring.active)
            .ok_or(VaultError::UnknownKey(ring.active))?;
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let aad = binding.aad(AAD_VERSION)?;
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce_bytes),
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        Ok(Sealed {
            key_id: ring.active,
            blob: B64.encode(out),
            aad_version: AAD_VERSION,
        })
    }

    /// Opens a sealed value; an unknown key id makes the vault re-read its keyring once.
    pub fn open_sealed(
        &self,
        sealed: &Sealed,
        binding: &Binding<'_>,
    ) -> Result<SecretString, VaultError> {
        let known = self
            .ring
            .read()
            .map(|r| r.ciphers.contains_key(&sealed.key_id))
            .unwrap_or(false);
        if !known {
            self.reload()?;
        }
        let ring = self.ring.read().map_err(|_| VaultError::Decrypt)?;
        let cipher = ring
            .ciphers
            .get(&sealed.key_id)
            .ok_or(VaultError::UnknownKey(sealed.key_id))?;
        let raw = B64.decode(&sealed.blob).map_err(|_| VaultError::Decrypt)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(VaultError::Decrypt);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| VaultError::Decrypt)?;
        let aad = binding.aad(sealed.aad_version)?;
        let plain = cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| VaultError::Decrypt)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| VaultError::Decrypt)
    }

    /// Decrypts with whatever key sealed it and seals again with the active key.
    pub fn rewrap(&self, sealed: &Sealed, binding: &Binding<'_>) -> Result<Sealed, VaultError> {
        let plain = self.open_sealed(sealed, binding)?;
        self.seal(&plain, binding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> Binding<'static> {
        Binding {
            workspace_id: "ws-1",
            provider: "openai",
            credential_id: "cred-1",
            base_url: Some("https://models.example.com/v1"),
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let vault = Vault::from_file(&KeyringFile::generate()).unwrap();
        let a = vault.seal(&secret("sk-test-123"), &binding()).unwrap();
        let b = vault.seal(&secret("sk-test-123"), &binding()).unwrap();
        assert_ne!(a.blob, b.blob, "a fresh nonce per encryption");
        assert_eq!(a.key_id, 1);
        assert!(!a.blob.contains("sk-test"));
        let plain = vault.open_sealed(&a, &binding()).unwrap();
        assert_eq!(plain.expose_secret(), "sk-test-123");
    }

    #[test]
    fn any_tampered_byte_fails() {
        let vault = Vault::from_file(&KeyringFile::generate()).unwrap();
        let sealed = vault.seal(&secret("sk-abc"), &binding()).unwrap();
        let raw = B64.decode(&sealed.blob).unwrap();
        for i in 0..raw.len() {
            let mut t = raw.clone();
            t[i] ^= 0x01;
            let tampered = Sealed {
                key_id: sealed.key_id,
                blob: B64.encode(&t),
                aad_version: sealed.aad_version,
            };
            assert!(
                matches!(
                    vault.open_sealed(&tampered, &binding()),
                    Err(VaultError::Decrypt)
                ),
                "byte {i}"
            );
        }
        let short = Sealed {
            key_id: 1,
            blob: B64.encode([0u8; 10]),
            aad_version: AAD_VERSION,
        };
        assert!(vault.open_sealed(&short, &binding()).is_err());
    }

    #[test]
    fn wrong_binding_fails() {
        let vault = Vault::from_file(&KeyringFile::generate()).unwrap();
        let sealed = vault.seal(&secret("sk-abc"), &binding()).unwrap();
        for other in [
            Binding {
                workspace_id: "ws-2",
                ..binding()
            },
            Binding {
                provider: "anthropic",
                ..binding()
            },
            Binding {
                credential_id: "cred-2",
                ..binding()
            },
            // A base URL edited in the database: the key is not sent there.
            Binding {
                base_url: Some("https://attacker.example/v1"),
                ..binding()
            },
            Binding {
                base_url: None,
                ..binding()
            },
        ] {
            assert!(matches!(
                vault.open_sealed(&sealed, &other),
                Err(VaultError::Decrypt)
            ));
        }
    }

    /// A row sealed before the base URL was bound (AAD version 1) still opens, under its own
    /// layout only; a rewrap brings it to the current one, which binds the URL.
    #[test]
    fn version_1_ciphertexts_open_and_rewrap_to_the_current_layout() {
        let vault = Vault::from_file(&KeyringFile::generate()).unwrap();
        let v1 = {
            let ring = vault.ring.read().unwrap();
            let cipher = ring.ciphers.get(&ring.active).unwrap();
            let nonce: [u8; NONCE_LEN] = rand::random();
            let aad = binding().aad(1).unwrap();
            let ct = cipher
                .encrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: b"sk-old-layout",
                        aad: &aad,
                    },
                )
                .unwrap();
            Sealed {
                key_id: ring.active,
                blob: B64.encode([nonce.as_slice(), &ct].concat()),
                aad_version: 1,
            }
        };
        assert_eq!(
            vault.open_sealed(&v1, &binding()).unwrap().expose_secret(),
            "sk-old-layout"
        );
        // Read as the current layout it does not open: the version is part of what is checked.
        let relabelled = Sealed {
            aad_version: AAD_VERSION,
            ..v1
        };
        assert!(vault.open_sealed(&relabelled, &binding()).is_err());
        let v1 = Sealed {
            aad_version: 1,
            ..relabelled
        };
        let new = vault.rewrap(&v1, &binding()).unwrap();
        assert_eq!(new.aad_version, AAD_VERSION);
        let moved = Binding {
            base_url: Some("https://attacker.example/v1"),
            ..binding()
        };
        assert!(vault.open_sealed(&new, &moved).is_err());
        let unknown = Sealed {
            aad_version: 99,
            ..new
        };
        assert!(matches!(
            vault.open_sealed(&unknown, &binding()),
            Err(VaultError::Decrypt)
        ));
    }

    /// A key activated in the key file while the server runs is the one the server seals with
    /// next — without it, keys added during a rotation were sealed with the old key and lost at
    /// `retire`.
    #[test]
    fn a_key_activated_while_running_seals_the_next_key() {
        let dir = crate::db::testing::TempDir::new().unwrap();
        let path = dir.path().join(KEYRING_FILE);
        let vault = Vault::open(KeySource::File(path.clone())).unwrap();
        assert_eq!(vault.seal(&secret("sk-a"), &binding()).unwrap().key_id, 1);
        let mut file = KeyringFile::read(&path).unwrap();
        let id = file.add_key();
        file.activate(id).unwrap();
        // Filesystems with coarse timestamps: make the change visible.
        std::thread::sleep(std::time::Duration::from_millis(20));
        file.write(&path).unwrap();
        let sealed = vault.seal(&secret("sk-b"), &binding()).unwrap();
        assert_eq!(sealed.key_id, 2);
        assert_eq!(vault.active_key_id(), 2);
    }

    #[test]
    fn rotation_keeps_old_ciphertexts_readable_until_rewrapped() {
        let mut file = KeyringFile::generate();
        let vault = Vault::from_file(&file).unwrap();
        let old = vault.seal(&secret("sk-rotate"), &binding()).unwrap();
        let id = file.add_key();
        file.activate(id).unwrap();
        let vault = Vault::from_file(&file).unwrap();
        assert_eq!(vault.active_key_id(), 2);
        assert_eq!(
            vault.open_sealed(&old, &binding()).unwrap().expose_secret(),
            "sk-rotate"
        );
        let new = vault.rewrap(&old, &binding()).unwrap();
        assert_eq!(new.key_id, 2);
        assert!(file.retire(2).is_err(), "the active key cannot be retired");
        file.retire(1).unwrap();
        let vault = Vault::from_file(&file).unwrap();
        assert_eq!(
            vault.open_sealed(&new, &binding()).unwrap().expose_secret(),
            "sk-rotate"
        );
        assert!(matches!(
            vault.open_sealed(&old, &binding()),
            Err(VaultError::UnknownKey(1))
        ));
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let file = KeyringFile::generate();
        let json = serde_json::to_string(&file).unwrap();
        let shown = format!(
            "{:?} {:?}",
            KeySource::Env(json),
            Vault::from_file(&file).unwrap()
        );
        assert!(!shown.contains(&file.keys[0].key), "{shown}");
    }

    #[test]
    fn malformed_keyrings_are_refused_with_a_reason() {
        for (json, why) in [
            ("not json", "expected"),
            (r#"{"active":1,"keys":[]}"#, "no keys"),
            (
                r#"{"active":2,"keys":[{"id":1,"key":"AAAA","created_at":0}]}"#,
                "32 bytes",
            ),
        ] {
            let err = KeyringFile::parse("GALAXY_KEYRING", json)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("GALAXY_KEYRING") && err.contains(why), "{err}");
        }
        let mut file = KeyringFile::generate();
        file.active = 9;
        let err = KeyringFile::parse("k", &serde_json::to_string(&file).unwrap())
            .err()
            .unwrap();
        assert!(err.to_string().contains("active key 9"));
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = crate::db::testing::TempDir::new().unwrap();
        let path = dir.path().join(KEYRING_FILE);
        let vault = Vault::open(KeySource::File(path.clone())).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let sealed = vault.seal(&secret("sk-file"), &binding()).unwrap();
        // Another process adds and activates a key; the running vault picks it up on demand.
        let mut file = KeyringFile::read(&path).unwrap();
        let id = file.add_key();
        file.activate(id).unwrap();
        file.write(&path).unwrap();
        let other = Vault::open(KeySource::File(path.clone())).unwrap();
        let rewrapped = other.rewrap(&sealed, &binding()).unwrap();
        assert_eq!(rewrapped.key_id, 2);
        assert_eq!(
            vault
                .open_sealed(&rewrapped, &binding())
                .unwrap()
                .expose_secret(),
            "sk-file"
        );
        // A corrupted file stops a new start.
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            Vault::open(KeySource::File(path)),
            Err(VaultError::Malformed(..))
        ));
    }
}
