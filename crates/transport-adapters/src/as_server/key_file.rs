//! Signing keys that outlive the process: PKCS#8 P-256 keys in a PEM file, created with
//! mode 0600 when missing, so that a restart and every instance of one issuer sign with,
//! and publish, the same keys.
//!
//! The file holds one or two `PRIVATE KEY` blocks: the first signs, the second (when
//! present) is the previous key, still published in the JWK Set so tokens it signed keep
//! verifying. To rotate, put a new key first (keep the old one second), and restart every
//! instance; remove the second block once tokens it signed have expired.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mcp_oauth_authorization_server::{
    AsConfig, AsConfigError, AuthorizationServer, Consent, Storage,
};
use mcp_oauth_jwt_validate::crypto::{Es256Signer, SignError};

/// The largest key file read: a few keys' PEM.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Why the signing key file could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Reading, creating or securing the file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file holds no `PRIVATE KEY` block, more than two, or one that is not a P-256
    /// PKCS#8 key.
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A new key could not be generated.
    Generate(SignError),
}

impl core::fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyFileError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            KeyFileError::Invalid { path, reason } => write!(f, "{}: {reason}", path.display()),
            KeyFileError::Generate(e) => write!(f, "generating a signing key: {e}"),
        }
    }
}

impl std::error::Error for KeyFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyFileError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The keys of a key file: the one that signs, and the previous one to keep publishing.
#[derive(Debug)]
#[non_exhaustive]
pub struct SigningKeys {
    /// Signs new tokens.
    pub current: Es256Signer,
    /// Published beside it until tokens it signed have expired.
    pub previous: Option<Es256Signer>,
}

impl SigningKeys {
    /// The authorization server with these keys: the current one signs, the previous one
    /// (when there is one) stays in the JWK Set
    /// ([`AuthorizationServer::rotate_signer`]).
    ///
    /// # Errors
    ///
    /// [`AsConfigError`] from [`AuthorizationServer::new`], or
    /// [`AsConfigError::SameKeyId`] when both keys are the same key.
    pub fn server<S: Storage>(
        self,
        config: AsConfig,
        storage: S,
        consent: Box<dyn Consent>,
    ) -> Result<AuthorizationServer<S>, AsConfigError> {
        match self.previous {
            None => AuthorizationServer::new(config, storage, Box::new(self.current), consent),
            Some(previous) => {
                let mut server =
                    AuthorizationServer::new(config, storage, Box::new(previous), consent)?;
                server.rotate_signer(Box::new(self.current))?;
                Ok(server)
            }
        }
    }
}

fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

/// Splits a PEM file into its `PRIVATE KEY` blocks.
fn blocks(text: &str) -> Vec<&str> {
    const END: &str = "-----END PRIVATE KEY-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN PRIVATE KEY-----") {
        let Some(tail) = rest.get(start..) else { break };
        let Some(end) = tail.find(END) else { break };
        let stop = end + END.len();
        out.extend(tail.get(..stop));
        rest = tail.get(stop..).unwrap_or_default();
    }
    out
}

/// Reads the key file at `path`, creating it with one new key (mode 0600) when it does
/// not exist. Creation is atomic: the key is written and synced to a temporary file that
/// is then linked into place only if no file exists there, so two instances starting at
/// once end up with the same key. An existing file readable by group or others is
/// tightened to 0600.
///
/// # Errors
///
/// [`KeyFileError`].
pub fn load_or_create(path: &Path) -> Result<SigningKeys, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    if !path.exists() {
        create(path)?;
    }
    let meta = fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_KEY_FILE {
        return Err(KeyFileError::Invalid {
            path: path.to_owned(),
            reason: format!("larger than {MAX_KEY_FILE} bytes"),
        });
    }
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    let text = fs::read_to_string(path).map_err(io)?;
    let invalid = |reason: &str| KeyFileError::Invalid {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let keys = blocks(&text)
        .into_iter()
        .map(Es256Signer::from_pkcs8_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid("a PRIVATE KEY block is not a P-256 PKCS#8 key"))?;
    let mut keys = keys.into_iter();
    let current = keys.next().ok_or_else(|| invalid("no PRIVATE KEY block"))?;
    let previous = keys.next();
    if keys.next().is_some() {
        return Err(invalid("more than two keys (the current and the previous)"));
    }
    Ok(SigningKeys { current, previous })
}

fn create(path: &Path) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let der = Es256Signer::generate_pkcs8().map_err(KeyFileError::Generate)?;
    // A name no other process or thread uses, so only the link below can collide.
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp-{}-{n}", std::process::id()));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(pem(&der).as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        // Another instance created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use mcp_oauth_jwt_validate::crypto::JwsSigner as _;

    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mcp-oauth-keys-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn created_private_once_then_reused() {
        let d = dir("create");
        let path = d.join("signing.pem");
        let first = load_or_create(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(first.previous.is_none());
        // A restart (or another instance) loads the same key: the same kid and JWK.
        let again = load_or_create(&path).unwrap();
        assert_eq!(again.current.public_jwk(), first.current.public_jwk());
        assert!(first.current.kid().is_some());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn instances_starting_together_share_one_key() {
        let d = dir("race");
        let path = d.join("signing.pem");
        let jwks: Vec<serde_json::Value> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create(&path).unwrap().current.public_jwk()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(jwks.windows(2).all(|w| w[0] == w[1]), "{jwks:?}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_rotated_file_has_current_and_previous() {
        let d = dir("rotate");
        let path = d.join("signing.pem");
        let old = load_or_create(&path).unwrap().current.public_jwk();
        let new = pem(&Es256Signer::generate_pkcs8().unwrap());
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, format!("{new}{text}")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let keys = load_or_create(&path).unwrap();
        assert_eq!(keys.previous.unwrap().public_jwk(), old);
        assert_ne!(keys.current.public_jwk(), old);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "tightened"
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let d = dir("bad");
        let path = d.join("signing.pem");
        for (text, why) in [
            ("", "no PRIVATE KEY"),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "not a P-256",
            ),
        ] {
            fs::write(&path, text).unwrap();
            let e = load_or_create(&path).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
        let one = pem(&Es256Signer::generate_pkcs8().unwrap());
        fs::write(&path, one.repeat(3)).unwrap();
        assert!(
            load_or_create(&path)
                .unwrap_err()
                .to_string()
                .contains("more than two")
        );
        fs::write(&path, vec![b'x'; 70_000]).unwrap();
        assert!(
            load_or_create(&path)
                .unwrap_err()
                .to_string()
                .contains("larger")
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
