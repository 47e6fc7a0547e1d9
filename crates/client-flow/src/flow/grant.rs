//! The grant half of the flow: a client id (pre-registered, CIMD or dynamic
//! registration), the authorization request, the token request.

use super::*;

impl AuthFlow {
    pub(super) fn register<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Action {
        let Stage::Register(d) = core::mem::replace(&mut self.stage, Stage::Over) else {
            return Action::Pending;
        };
        let issuer = d.metadata.issuer.clone();
        let known = self
            .config
            .preregistered
            .iter()
            .chain(self.known.iter())
            .find(|(i, _)| *i == issuer)
            .map(|(_, c)| c.clone());
        let route = choose_registration(
            known.is_some(),
            self.config.cimd_url.is_some(),
            d.metadata.client_id_metadata_document_supported,
            d.metadata.registration_endpoint.as_deref(),
        );
        match (route, known) {
            (RegistrationRoute::PreRegistered, Some(c)) => {
                self.stage = Stage::Authorize(d, Box::new(c));
                self.authorize(rng)
            }
            (RegistrationRoute::ClientIdMetadataDocument, _) => {
                let mut md = self.config.metadata.clone();
                md.token_endpoint_auth_method = Some("none".to_owned());
                let c = RegisteredClient::new(self.config.cimd_url.clone().unwrap_or_default())
                    .with_metadata(md);
                self.stage = Stage::Authorize(d, Box::new(c));
                self.authorize(rng)
            }
            (RegistrationRoute::Dynamic, _) => {
                let endpoint = d.metadata.registration_endpoint.clone().unwrap_or_default();
                let mut md = self.config.metadata.clone();
                md.token_endpoint_auth_method = Some(
                    pick_auth_method(md.token_endpoint_auth_method.as_deref(), &d.metadata)
                        .to_owned(),
                );
                let iat = self
                    .config
                    .options(&issuer)
                    .and_then(|o| o.initial_access_token.clone());
                match registration_request(&endpoint, &md, iat.as_ref()) {
                    Ok(r) => {
                        self.stage = Stage::Register(d);
                        self.new_registration = true;
                        self.send(r)
                    }
                    Err(_) => {
                        self.fail(FlowError::Registration(RegistrationError::InvalidResponse))
                    }
                }
            }
            _ => self.fail(FlowError::NoClient { issuer }),
        }
    }

    pub(super) fn authorize<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Action {
        let Stage::Authorize(d, c) = core::mem::replace(&mut self.stage, Stage::Over) else {
            return Action::Pending;
        };
        let m = &d.metadata;
        let opts = self.config.options(&m.issuer).cloned().unwrap_or_default();
        let scope = match (&opts.scope, &self.held_scope, &self.challenge_scope) {
            (Some(s), _, _) => Some(s.clone()),
            (None, Some(held), Some(ch)) => scope_union(held, ch),
            _ => select_scope(
                self.challenge_scope.as_deref(),
                d.prm.as_ref().and_then(|p| p.scopes_supported.as_deref()),
                m.scopes_supported.as_deref(),
                self.config.want_refresh_token,
            ),
        };
        let resource = (!opts.omit_resource).then_some(&d.resource);
        let req = AuthorizationRequest {
            authorization_endpoint: m.authorization_endpoint.as_deref().unwrap_or_default(),
            issuer: &m.issuer,
            iss_supported: m.authorization_response_iss_parameter_supported == Some(true),
            client_id: &c.client_id,
            redirect_uri: &self.config.redirect_uri,
            resource,
            scope: scope.as_deref(),
            extra: &opts.extra_params,
        };
        match req.build(rng) {
            Ok((url, pending)) => {
                self.requested_scope = scope;
                self.stage = Stage::Callback(d, c, Box::new(pending));
                self.waiting = Waiting::Callback;
                Action::Redirect(url)
            }
            Err(e) => self.fail(FlowError::Authorize(e)),
        }
    }

    pub(super) fn token<R: CryptoRng + ?Sized>(&mut self, now: UnixTime, rng: &mut R) -> Action {
        let (Stage::Token(d, c, p), Some(code)) = (&self.stage, &self.code) else {
            return Action::Pending;
        };
        let auth = client_auth(c, &d.metadata);
        let mut jti = [0u8; 16];
        rng.fill_bytes(&mut jti);
        let r = token_request(
            d.metadata.token_endpoint.as_deref().unwrap_or_default(),
            &TokenClient {
                client_id: &c.client_id,
                auth: &auth,
                issuer: &d.metadata.issuer,
            },
            &Grant::AuthorizationCode {
                code,
                verifier: p.verifier(),
                redirect_uri: &p.redirect_uri,
            },
            p.resource.as_ref(),
            now,
            &jti,
        );
        match r {
            Ok(r) => self.send(r),
            Err(e) => self.fail(FlowError::Token(e)),
        }
    }
}
