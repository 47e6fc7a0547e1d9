//! The flows as IO: the authorization flow, discovery alone, and the `client_credentials`
//! grant. Every decision is the core's ([`AuthFlow`], [`Reauthorize`],
//! [`decide_completion`], [`ClientCredentialsGrant`]); this file sends, stores, reports.

use mcp_oauth_client_flow::{
    Action, AuthFlow, BearerParams, ClientAuth, ClientCredentialsGrant, CredentialStore,
    Discovered, FlowError, Reauthorize, RegisteredClient, ResourceUri, decide_completion,
    decide_issuer,
};

use super::{ClientError, OAuthClient, Step, lock};
use crate::sys::now;

impl<S: CredentialStore + 'static> OAuthClient<S> {
    /// Runs the whole flow for `server` (discovery, registration, authorization, token)
    /// and stores the result. `held` is set for step-up (the scopes to keep).
    pub async fn authorize(
        &self,
        server: &ResourceUri,
        challenge: Option<&BearerParams>,
        held: Option<String>,
    ) -> Result<String, ClientError> {
        let r = match held {
            Some(h) => Reauthorize::step_up(challenge.cloned(), h),
            None => Reauthorize::fresh(challenge.cloned()),
        };
        self.run_flow(server, &r).await
    }

    /// Runs the flow `r` asks for and stores its result; the access token.
    pub(super) async fn run_flow(
        &self,
        server: &ResourceUri,
        r: &Reauthorize,
    ) -> Result<String, ClientError> {
        let key = server.as_str();
        let store = &self.inner.store;
        let previous = store.credential(key).map_err(Self::store_err)?;
        let discovered = if r.reuses_discovery() {
            lock(&self.inner.discovered).get(key).cloned()
        } else {
            // What discovery learnt before may be stale (another authorization server).
            lock(&self.inner.discovered).remove(key);
            None
        };
        let mut flow = r
            .build_flow(
                self.inner.config.clone(),
                server.clone(),
                store.clients().map_err(Self::store_err)?,
                previous.as_ref(),
                discovered,
            )
            .map_err(ClientError::Flow)?;
        let mut rng = crate::sys::rng();
        loop {
            match flow.poll_action(now(), &mut rng) {
                Action::Send(req) => {
                    let resp = self.send(req).await?;
                    // A failure is reported by the next poll.
                    let _ = flow.handle_response(now(), resp.status(), resp.body());
                }
                Action::Redirect(url) => {
                    self.observe(Step::Authorize { url: url.clone() });
                    let callback = self
                        .inner
                        .agent
                        .authorize(&url)
                        .await
                        .map_err(ClientError::Agent)?;
                    if flow.handle_callback(&callback).is_ok() {
                        self.observe(Step::Callback);
                    }
                }
                Action::Done(a) => {
                    let done = decide_completion(&self.inner.config, previous.as_ref(), &a);
                    if done.save_client {
                        store
                            .save_client(a.issuer(), &a.client)
                            .map_err(Self::store_err)?;
                    }
                    if let Some(change) = &done.discarded {
                        self.observe(Step::Discarded {
                            reason: change.to_string(),
                        });
                    }
                    store
                        .save_credential(key, &done.credential)
                        .map_err(Self::store_err)?;
                    lock(&self.inner.discovered).insert(key.to_owned(), a.discovered.clone());
                    self.observe(Step::Authorized {
                        issuer: a.issuer().to_owned(),
                        scope: a.tokens.scope.clone(),
                        refresh_token: a.tokens.refresh_token.is_some(),
                    });
                    return Ok(a.tokens.access_token.expose().to_owned());
                }
                Action::Failed(e) => return Err(ClientError::Flow(e)),
                _ => return Err(ClientError::Flow(FlowError::UnexpectedInput)),
            }
        }
    }

    /// A `client_credentials` token for a machine client (no user, no browser), stored
    /// like any other credential. `client` is the pre-registered client; `auth` how it
    /// authenticates (a secret, or a signer for `private_key_jwt`).
    pub async fn client_credentials(
        &self,
        server: &ResourceUri,
        client: &RegisteredClient,
        auth: &ClientAuth,
        scope: Option<&str>,
    ) -> Result<String, ClientError> {
        let d = self.discover(server).await?;
        let grant = ClientCredentialsGrant::new(&d, client, auth, scope);
        let req = grant
            .build_request(now(), &mut crate::sys::rng())
            .map_err(ClientError::Token)?;
        let resp = self.send(req).await?;
        let cred = grant
            .handle_response(now(), resp.status(), resp.body())
            .map_err(ClientError::Token)?;
        let key = server.as_str();
        let held = self.inner.store.credential(key).map_err(Self::store_err)?;
        if let Some(change) = decide_issuer(held.as_ref(), &cred.issuer) {
            self.observe(Step::Discarded {
                reason: change.to_string(),
            });
        }
        self.inner
            .store
            .save_credential(key, &cred)
            .map_err(Self::store_err)?;
        Ok(cred.tokens.access_token.expose().to_owned())
    }

    /// Discovery only: protected resource metadata and authorization server metadata.
    pub async fn discover(&self, server: &ResourceUri) -> Result<Discovered, ClientError> {
        if let Some(d) = lock(&self.inner.discovered).get(server.as_str()).cloned() {
            return Ok(d);
        }
        // Run the flow until it wants to register.
        let mut flow = AuthFlow::new(self.inner.config.clone(), server.clone(), None)
            .map_err(ClientError::Flow)?;
        let mut rng = crate::sys::rng();
        loop {
            if let Some(d) = flow.discovered() {
                let d = d.clone();
                lock(&self.inner.discovered).insert(server.as_str().to_owned(), d.clone());
                return Ok(d);
            }
            match flow.poll_action(now(), &mut rng) {
                Action::Send(req) => {
                    let resp = self.send(req).await?;
                    let _ = flow.handle_response(now(), resp.status(), resp.body());
                }
                Action::Failed(e) => return Err(ClientError::Flow(e)),
                _ => return Err(ClientError::Flow(FlowError::UnexpectedInput)),
            }
        }
    }
}
