//! A credential store in one JSON file: readable by the owner only, replaced atomically,
//! and safe when several processes share it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use mcp_oauth_client_flow::{Credential, CredentialStore, RegisteredClient, StoreLock};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Largest store file read.
pub const MAX_STORE_LEN: usize = 4 * 1024 * 1024;

/// Why the file store failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileStoreError {
    /// Reading, writing, locking or renaming failed.
    Io(std::io::Error),
    /// The file is not a store (or is larger than [`MAX_STORE_LEN`]).
    Corrupt,
}

impl core::fmt::Display for FileStoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FileStoreError::Io(e) => write!(f, "credential store: {e}"),
            FileStoreError::Corrupt => f.write_str("credential store file is not valid"),
        }
    }
}

impl std::error::Error for FileStoreError {}

impl From<std::io::Error> for FileStoreError {
    fn from(e: std::io::Error) -> Self {
        FileStoreError::Io(e)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    #[serde(default)]
    clients: BTreeMap<String, RegisteredClient>,
    #[serde(default)]
    credentials: BTreeMap<String, Credential>,
}

/// Registrations and credentials in a JSON file (MCP-RT-4/5):
///
/// - created with mode `0600` (owner only), in a directory created `0700`;
/// - every change is a read-modify-write under an exclusive lock on `<file>.lock`,
///   written to a temporary file, synced, renamed over the old one, and the directory
///   synced (so the rename survives a crash once the call returned), so a reader
///   never sees half a file and two processes never lose each other's changes;
/// - [`lock_credential`](CredentialStore::lock_credential) takes a per-server lock file,
///   so two processes refreshing the same credential spend a rotating refresh token
///   once (the second re-reads the store and finds the new tokens).
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store at `path` (created on first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        self.path.with_file_name(name)
    }

    fn ensure_dir(&self) -> Result<(), FileStoreError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir)?;
        }
        Ok(())
    }

    fn open_private(path: &Path) -> std::io::Result<File> {
        let mut o = OpenOptions::new();
        o.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(path)
    }

    fn lock_file(&self, suffix: &str) -> Result<File, FileStoreError> {
        self.ensure_dir()?;
        let f = Self::open_private(&self.sibling(suffix))?;
        f.lock()?;
        Ok(f)
    }

    fn read(&self) -> Result<Contents, FileStoreError> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contents::default()),
            Err(e) => return Err(e.into()),
        };
        let mut bytes = Vec::new();
        f.take(MAX_STORE_LEN as u64 + 1).read_to_end(&mut bytes)?;
        if bytes.len() > MAX_STORE_LEN {
            return Err(FileStoreError::Corrupt);
        }
        if bytes.is_empty() {
            return Ok(Contents::default());
        }
        serde_json::from_slice(&bytes).map_err(|_| FileStoreError::Corrupt)
    }

    fn update<T>(&self, f: impl FnOnce(&mut Contents) -> T) -> Result<T, FileStoreError> {
        let _lock = self.lock_file(".lock")?;
        let mut c = self.read()?;
        let out = f(&mut c);
        let bytes = serde_json::to_vec_pretty(&c).map_err(|_| FileStoreError::Corrupt)?;
        let tmp = self.sibling(&format!(".tmp{}", std::process::id()));
        {
            // A fresh file (never a leftover or a planted symlink), owner-only.
            let _ = std::fs::remove_file(&tmp);
            let mut o = OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let mut t = o.open(&tmp)?;
            t.write_all(&bytes)?;
            t.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        // The new name is durable only once the directory entry is: without this, a
        // crash right after the rename can bring back the old file (or none) although
        // the caller was told the update was stored.
        #[cfg(unix)]
        {
            let dir = match self.path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(out)
    }
}

impl CredentialStore for FileStore {
    type Error = FileStoreError;

    fn client(&self, issuer: &str) -> Result<Option<RegisteredClient>, Self::Error> {
        Ok(self.read()?.clients.remove(issuer))
    }

    fn clients(&self) -> Result<Vec<(String, RegisteredClient)>, Self::Error> {
        Ok(self.read()?.clients.into_iter().collect())
    }

    fn save_client(&self, issuer: &str, client: &RegisteredClient) -> Result<(), Self::Error> {
        self.update(|c| c.clients.insert(issuer.to_owned(), client.clone()))
            .map(drop)
    }

    fn remove_client(&self, issuer: &str) -> Result<(), Self::Error> {
        self.update(|c| c.clients.remove(issuer)).map(drop)
    }

    fn credential(&self, server: &str) -> Result<Option<Credential>, Self::Error> {
        Ok(self.read()?.credentials.remove(server))
    }

    fn save_credential(&self, server: &str, credential: &Credential) -> Result<(), Self::Error> {
        self.update(|c| c.credentials.insert(server.to_owned(), credential.clone()))
            .map(drop)
    }

    fn remove_credential(&self, server: &str) -> Result<(), Self::Error> {
        self.update(|c| c.credentials.remove(server)).map(drop)
    }

    fn lock_credential(&self, server: &str) -> Result<StoreLock, Self::Error> {
        let digest = Sha256::digest(server.as_bytes());
        let tag: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Ok(StoreLock::new(self.lock_file(&format!(".{tag}.lock"))?))
    }
}
