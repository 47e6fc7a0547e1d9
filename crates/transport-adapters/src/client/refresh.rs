//! Refresh, single-flight: the driver's half of [`RefreshFlow`]. Tasks of this process
//! queue on a per-credential lock, processes sharing the store on its
//! [`lock_credential`](CredentialStore::lock_credential); under both, the machine decides.

use std::sync::Arc;

use mcp_oauth_client_flow::{Credential, CredentialStore, RefreshFlow, RefreshStep, ResourceUri};

use super::{ClientError, OAuthClient, Step, lock};
use crate::sys::now;

impl<S: CredentialStore + 'static> OAuthClient<S> {
    fn key_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.inner.locks)
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    /// Refreshes the credential for `server` whose access token was `old`, once:
    /// tasks of this process queue on a per-credential lock and processes sharing the
    /// store on its [`lock_credential`](CredentialStore::lock_credential); whoever comes
    /// second re-reads the store and uses the tokens the first one got, so a rotating
    /// refresh token is spent exactly once. After `invalid_grant` the store is read
    /// again (another process may have rotated it) before the credential is dropped.
    /// `Ok(None)`: no usable credential; run the flow.
    pub async fn refresh(
        &self,
        server: &ResourceUri,
        old: &str,
    ) -> Result<Option<Credential>, ClientError> {
        let key = server.as_str().to_owned();
        let task_lock = self.key_lock(&key);
        let _task = task_lock.lock().await;
        let store = self.inner.store.clone();
        let k = key.clone();
        let _process = tokio::task::spawn_blocking(move || store.lock_credential(&k))
            .await
            .map_err(|e| ClientError::Store(Box::new(e)))?
            .map_err(Self::store_err)?;
        let store = &self.inner.store;
        let mut flow = RefreshFlow::new(old);
        let mut rng = crate::sys::rng();
        let mut step = RefreshStep::ReadStore;
        loop {
            step = match step {
                RefreshStep::ReadStore => {
                    let cred = store.credential(&key).map_err(Self::store_err)?;
                    let client = match &cred {
                        Some(c) => store.client(&c.issuer).map_err(Self::store_err)?,
                        None => None,
                    };
                    let signer = self.inner.signer.as_ref();
                    flow.handle_stored(now(), cred, client.as_ref(), signer, &mut rng)
                }
                RefreshStep::Send(req) => {
                    let resp = self.send(req).await?;
                    flow.handle_response(now(), resp.status(), resp.body())
                }
                RefreshStep::Save(c) => {
                    store.save_credential(&key, &c).map_err(Self::store_err)?;
                    self.observe(Step::Refreshed { spent: true });
                    return Ok(Some(*c));
                }
                RefreshStep::AlreadyRefreshed(c) => {
                    self.observe(Step::Refreshed { spent: false });
                    return Ok(Some(*c));
                }
                RefreshStep::Discard => {
                    store.remove_credential(&key).map_err(Self::store_err)?;
                    self.observe(Step::Discarded {
                        reason: "the refresh token was refused (invalid_grant)".into(),
                    });
                    return Ok(None);
                }
                RefreshStep::Failed(e) => return Err(ClientError::Token(e)),
                // `Reauthorize`, and any step a newer machine adds: no credential.
                _ => return Ok(None),
            };
        }
    }
}
