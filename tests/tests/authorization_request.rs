//! A client builds the PKCE and resource parts of an authorization request and a token
//! request; an authorization server reads them back from the wire form. No sockets: the
//! "wire" is the URL and the form body (requirements MCP-RES-1, MCP-AUTHZ-1, PKCE-6,
//! PKCE-10, PKCE-11).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use mcp_oauth_pkce::{CodeChallenge, CodeVerifier, PkceError};
use mcp_oauth_resource_indicators::url::{Url, form_urlencoded};
use mcp_oauth_resource_indicators::{Audience, ResourceUri, resources_from_pairs};
use proptest::prelude::*;

struct ClientSide {
    verifier: CodeVerifier,
    resource: ResourceUri,
}

fn authorization_url(entropy: &[u8], server: &str) -> (ClientSide, Url) {
    let verifier = CodeVerifier::from_entropy(entropy).unwrap();
    let resource = ResourceUri::parse(server).unwrap();
    let mut url =
        Url::parse("https://as.example/authorize?response_type=code&client_id=c").unwrap();
    url.query_pairs_mut()
        .extend_pairs(verifier.challenge().authorization_params());
    resource.append_to_url(&mut url);
    (ClientSide { verifier, resource }, url)
}

fn token_body(client: &ClientSide) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code");
    form.append_pair("code", "the-code");
    let (k, v) = client.verifier.token_param();
    form.append_pair(k, v);
    client.resource.append_to_form(&mut form);
    form.finish()
}

/// What the authorization server keeps with the code.
struct Grant {
    challenge: CodeChallenge,
    resources: Vec<ResourceUri>,
}

fn server_authorize(url: &Url) -> Result<Grant, String> {
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let challenge = CodeChallenge::from_request(
        get("code_challenge").as_deref(),
        get("code_challenge_method").as_deref(),
    )
    .map_err(|e| e.oauth_error_code().to_owned())?;
    let resources =
        resources_from_pairs(url.query_pairs()).map_err(|e| e.oauth_error_code().to_owned())?;
    Ok(Grant {
        challenge,
        resources,
    })
}

fn server_token(grant: &Grant, body: &str) -> Result<Audience, String> {
    let pairs: Vec<_> = form_urlencoded::parse(body.as_bytes()).collect();
    let verifier = pairs
        .iter()
        .find(|(k, _)| k == "code_verifier")
        .map(|(_, v)| v.as_ref());
    grant
        .challenge
        .verify(verifier.ok_or("invalid_request")?)
        .map_err(|e| e.oauth_error_code().to_owned())?;
    let requested =
        resources_from_pairs(pairs.iter().cloned()).map_err(|e| e.oauth_error_code().to_owned())?;
    // RFC 8707 §2.2: the token request's resources must be among those granted.
    if !requested.iter().all(|r| grant.resources.contains(r)) {
        return Err("invalid_target".into());
    }
    Ok(Audience::Many(
        requested.iter().map(|r| r.as_str().to_owned()).collect(),
    ))
}

#[test]
fn whole_exchange_gives_a_token_for_this_server_only() {
    let (client, url) = authorization_url(&[7; 32], "https://MCP.example.com/mcp");
    assert!(url.as_str().contains("code_challenge_method=S256"));
    assert!(
        url.as_str()
            .contains("resource=https%3A%2F%2Fmcp.example.com%2Fmcp")
    );
    let grant = server_authorize(&url).unwrap();
    let aud = server_token(&grant, &token_body(&client)).unwrap();

    let me = ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
    assert_eq!(me.check_audience(Some(&aud)), Ok(()));
    let other = ResourceUri::parse("https://mcp.example.com/other").unwrap();
    assert!(other.check_audience(Some(&aud)).is_err());
}

#[test]
fn stolen_code_with_another_verifier_is_invalid_grant() {
    let (_, url) = authorization_url(&[7; 32], "https://mcp.example.com");
    let grant = server_authorize(&url).unwrap();
    let (attacker, _) = authorization_url(&[8; 32], "https://mcp.example.com");
    assert_eq!(
        server_token(&grant, &token_body(&attacker)).unwrap_err(),
        "invalid_grant"
    );
}

#[test]
fn downgrade_to_plain_is_refused_at_authorization() {
    let (client, mut url) = authorization_url(&[7; 32], "https://mcp.example.com");
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "code_challenge" && k != "code_challenge_method")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("code_challenge", client.verifier.as_str())
        .append_pair("code_challenge_method", "plain");
    assert_eq!(
        server_authorize(&url).err().as_deref(),
        Some("invalid_request")
    );
    assert_eq!(
        CodeChallenge::from_request(Some(client.verifier.as_str()), Some("plain")).unwrap_err(),
        PkceError::PlainRefused
    );
}

#[test]
fn token_request_for_another_resource_is_invalid_target() {
    let (mut client, url) = authorization_url(&[7; 32], "https://mcp.example.com/a");
    let grant = server_authorize(&url).unwrap();
    client.resource = ResourceUri::parse("https://mcp.example.com/b").unwrap();
    assert_eq!(
        server_token(&grant, &token_body(&client)).unwrap_err(),
        "invalid_target"
    );
}

proptest! {
    #[test]
    fn any_entropy_and_resource_path_round_trips(
        entropy in proptest::collection::vec(any::<u8>(), 32..=96),
        path in "(/[a-z0-9._~-]{1,8}){0,3}/?",
    ) {
        let server = format!("https://mcp.example.com{path}");
        let (client, url) = authorization_url(&entropy, &server);
        let grant = server_authorize(&url).unwrap();
        let aud = server_token(&grant, &token_body(&client)).unwrap();
        let me = ResourceUri::parse(&server).unwrap();
        prop_assert_eq!(me.check_audience(Some(&aud)), Ok(()));
    }
}
