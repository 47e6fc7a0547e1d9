//! Feeding responses: discovery (RFC 9728, RFC 8414 in the MCP order, the 2025-03-26
//! legacy fallback), registration and token responses.

use super::*;

impl AuthFlow {
    pub(super) fn response(
        &mut self,
        now: UnixTime,
        status: StatusCode,
        body: &[u8],
    ) -> Result<(), FlowError> {
        match core::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Prm {
                candidates,
                next,
                mut all_not_found,
                mut last,
                ..
            } => {
                let c = candidates.get(next);
                if status == StatusCode::OK
                    && let Some(c) = c
                {
                    match mcp_oauth_prm_metadata::Validation::new()
                        .validate(body, &c.expected_resource)
                    {
                        Ok(prm) => {
                            return self.start_asm(prm);
                        }
                        Err(e) => {
                            all_not_found = false;
                            last = Some(e);
                        }
                    }
                } else if status != StatusCode::NOT_FOUND {
                    all_not_found = false;
                }
                self.stage = Stage::Prm {
                    candidates,
                    next: next + 1,
                    all_not_found,
                    last,
                    status: Some(status.as_u16()),
                };
                Ok(())
            }
            Stage::Asm {
                resource,
                prm,
                servers,
                server,
                urls,
                next,
                mut last,
            } => {
                let issuer = servers.get(server).cloned().unwrap_or_default();
                if status == StatusCode::OK {
                    let mut v = mcp_oauth_as_metadata::Validation::new();
                    if self
                        .config
                        .options(&issuer)
                        .is_some_and(|o| o.dangerous_assume_s256)
                    {
                        v = v.dangerous_assume_s256_for_issuer(issuer.clone());
                    }
                    match v.validate(body, &issuer) {
                        Ok(metadata) => {
                            self.stage = Stage::Register(Box::new(Discovered {
                                resource,
                                prm: Some(*prm),
                                metadata,
                                legacy: false,
                            }));
                            return Ok(());
                        }
                        Err(e) => {
                            // MCP-ASMD-6: a document for another issuer (or one that
                            // fails the PKCE rules) is never used; this server is done.
                            last = Some(e);
                            return self.next_server(resource, prm, servers, server + 1, last);
                        }
                    }
                }
                if next + 1 < urls.len() {
                    self.stage = Stage::Asm {
                        resource,
                        prm,
                        servers,
                        server,
                        urls,
                        next: next + 1,
                        last,
                    };
                    Ok(())
                } else {
                    self.next_server(resource, prm, servers, server + 1, last)
                }
            }
            Stage::Legacy => {
                let legacy = LegacyDiscovery::new(&self.server);
                let metadata = if status == StatusCode::OK {
                    match mcp_oauth_as_metadata::Validation::new().validate(body, legacy.issuer()) {
                        Ok(m) => m,
                        Err(e) => {
                            self.stage = Stage::Over;
                            return Err(FlowError::NoAuthorizationServer { last: Some(e) });
                        }
                    }
                } else if status == StatusCode::NOT_FOUND {
                    legacy.default_metadata()
                } else {
                    self.stage = Stage::Over;
                    return Err(FlowError::NoAuthorizationServer { last: None });
                };
                self.stage = Stage::Register(Box::new(Discovered {
                    resource: self.server.clone(),
                    prm: None,
                    metadata,
                    legacy: true,
                }));
                Ok(())
            }
            Stage::Register(d) => match parse_registration_response(status, body) {
                Ok(c) => {
                    self.stage = Stage::Authorize(d, Box::new(c));
                    Ok(())
                }
                Err(e) => Err(FlowError::Registration(e)),
            },
            Stage::Token(d, c, p) => {
                match parse_token_response(status, body, now, self.requested_scope.as_deref(), None)
                {
                    Ok(tokens) => {
                        self.stage = Stage::Done(Box::new(Authorized {
                            discovered: *d,
                            client: *c,
                            new_registration: self.new_registration,
                            requested_scope: self.requested_scope.clone(),
                            tokens,
                        }));
                        drop(p);
                        Ok(())
                    }
                    Err(e) => Err(FlowError::Token(e)),
                }
            }
            other => {
                self.stage = other;
                Err(FlowError::UnexpectedInput)
            }
        }
    }

    fn start_asm(&mut self, prm: ProtectedResourceMetadata) -> Result<(), FlowError> {
        let resource = match ResourceUri::parse(&prm.resource) {
            Ok(r) => r,
            Err(_) => {
                return Err(FlowError::NoResourceMetadata {
                    last: None,
                    status: Some(200),
                });
            }
        };
        let mut servers = prm.authorization_servers.clone().unwrap_or_default();
        if let Some(p) = &self.prefer
            && let Some(i) = servers.iter().position(|s| s == p)
        {
            let s = servers.remove(i);
            servers.insert(0, s);
        }
        self.next_server(resource, Box::new(prm), servers, 0, None)
    }

    fn next_server(
        &mut self,
        resource: ResourceUri,
        prm: Box<ProtectedResourceMetadata>,
        servers: Vec<String>,
        mut server: usize,
        mut last: Option<AsMetadataError>,
    ) -> Result<(), FlowError> {
        while let Some(issuer) = servers.get(server) {
            match discovery_urls(issuer) {
                Ok(urls) => {
                    self.stage = Stage::Asm {
                        resource,
                        prm,
                        servers,
                        server,
                        urls,
                        next: 0,
                        last,
                    };
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    server += 1;
                }
            }
        }
        Err(FlowError::NoAuthorizationServer { last })
    }
}
