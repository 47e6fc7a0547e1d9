//! The MCP 2026-07-28 request metadata headers, `Mcp-Method` and `Mcp-Name`.
//!
//! Streamable HTTP (2026-07-28, "Request Metadata") mirrors the JSON-RPC `method` into
//! `Mcp-Method` on every request, and `params.name` (`tools/call`, `prompts/get`) or
//! `params.uri` (`resources/read`) into `Mcp-Name`, Base64-wrapped as `=?base64?…?=` when
//! the value is not plain header-safe ASCII. Header names are case-insensitive, values are
//! case-sensitive. A server that reads the body must refuse a request whose headers do
//! not match it with `400 Bad Request` and JSON-RPC error `-32020` (`HeaderMismatch`), so
//! that nothing routing or authorizing on the headers can be shown one operation while the
//! server runs another.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};

use crate::operations::Msg;

/// The `Mcp-Method` header.
pub(crate) const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// The `Mcp-Name` header.
pub(crate) const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
/// JSON-RPC `HeaderMismatch`.
const HEADER_MISMATCH: i64 = -32020;

/// The operation a request's headers name.
#[derive(Debug)]
pub(crate) struct Mirrored<'h> {
    /// `Mcp-Method`.
    pub(crate) method: &'h str,
    /// `Mcp-Name`, decoded, for the methods whose name it mirrors (else `None`).
    pub(crate) name: Option<Cow<'h, str>>,
}

impl Mirrored<'_> {
    /// The tool a `tools/call` names.
    pub(crate) fn tool(&self) -> Option<&str> {
        (self.method == "tools/call")
            .then_some(self.name.as_deref())
            .flatten()
    }
}

/// Which body field `Mcp-Name` mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameField {
    Name,
    Uri,
}

fn name_field(method: &str) -> Option<NameField> {
    match method {
        "tools/call" | "prompts/get" => Some(NameField::Name),
        "resources/read" => Some(NameField::Uri),
        _ => None,
    }
}

/// Why the MCP 2026-07-28 metadata headers (`Mcp-Method`, `Mcp-Name`) were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// `Mcp-Method` or `Mcp-Name` given twice.
    Repeated,
    /// A header value with characters a header may not carry, or bad Base64.
    Invalid,
    /// `Mcp-Name` without `Mcp-Method`.
    NameWithoutMethod,
    /// `Mcp-Name` missing for a method that requires it.
    MissingName,
    /// The body is not one JSON-RPC message (a batch, or not JSON).
    NotOneMessage,
    /// The body's `method` is not `Mcp-Method`.
    Method,
    /// The body's `params.name` / `params.uri` is not `Mcp-Name`.
    Name,
}

impl Mismatch {
    /// The error message (constant: nothing from the request is echoed).
    pub fn message(self) -> &'static str {
        match self {
            Mismatch::Repeated => "Header mismatch: Mcp-Method or Mcp-Name is repeated",
            Mismatch::Invalid => "Header mismatch: Mcp-Method or Mcp-Name is malformed",
            Mismatch::NameWithoutMethod => "Header mismatch: Mcp-Name without Mcp-Method",
            Mismatch::MissingName => "Header mismatch: this method requires Mcp-Name",
            Mismatch::NotOneMessage => {
                "Header mismatch: the body is not one JSON-RPC message for these headers"
            }
            Mismatch::Method => "Header mismatch: Mcp-Method does not match the body's method",
            Mismatch::Name => "Header mismatch: Mcp-Name does not match the body",
        }
    }
}

/// The one value of header `name`, as text.
fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, Mismatch> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Mismatch::Repeated);
    }
    value.to_str().map(Some).map_err(|_| Mismatch::Invalid)
}

/// Undoes the `=?base64?…?=` sentinel (standard alphabet, padded, UTF-8 inside); other
/// values are taken as they are, without allocating.
fn decode(value: &str) -> Result<Cow<'_, str>, Mismatch> {
    use base64::Engine as _;
    let Some(inner) = value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return Ok(Cow::Borrowed(value));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(inner)
        .map_err(|_| Mismatch::Invalid)?;
    String::from_utf8(bytes)
        .map(Cow::Owned)
        .map_err(|_| Mismatch::Invalid)
}

/// The operation the headers name: `None` when the request has no `Mcp-Method` (an
/// earlier protocol version: the body decides), an error when they are unusable.
pub(crate) fn mirrored(headers: &HeaderMap) -> Result<Option<Mirrored<'_>>, Mismatch> {
    let name = single(headers, &MCP_NAME)?;
    let Some(method) = single(headers, &MCP_METHOD)? else {
        return match name {
            Some(_) => Err(Mismatch::NameWithoutMethod),
            None => Ok(None),
        };
    };
    let name = match (name_field(method), name) {
        (Some(_), Some(n)) => Some(decode(n)?),
        (Some(_), None) => return Err(Mismatch::MissingName),
        // Not a standard header for this method: no scope depends on it.
        (None, _) => None,
    };
    Ok(Some(Mirrored { method, name }))
}

/// Whether `body` is one JSON-RPC message with the headers' method and name, read by the
/// same parser as the body scan of earlier versions.
pub(crate) fn check_body(body: &[u8], headers: &Mirrored<'_>) -> Result<(), Mismatch> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Mismatch::NotOneMessage);
    }
    let msg: Msg<'_> = serde_json::from_slice(body).map_err(|_| Mismatch::NotOneMessage)?;
    if msg.method.as_deref() != Some(headers.method) {
        return Err(Mismatch::Method);
    }
    let body_name = match name_field(headers.method) {
        Some(NameField::Name) => msg.params.name.as_deref(),
        Some(NameField::Uri) => msg.params.uri.as_deref(),
        None => return Ok(()),
    };
    if body_name == headers.name.as_deref() {
        Ok(())
    } else {
        Err(Mismatch::Name)
    }
}

/// The body's `id` when it is a string or number (else `null`), for the mismatch answer.
pub(crate) fn request_id(body: Option<&[u8]>) -> serde_json::Value {
    #[derive(serde::Deserialize)]
    struct Id {
        #[serde(default)]
        id: Option<serde_json::Value>,
    }
    body.and_then(|b| serde_json::from_slice::<Id>(b).ok())
        .and_then(|m| m.id)
        .filter(|id| id.is_string() || id.is_number())
        .unwrap_or(serde_json::Value::Null)
}

/// The `400` for a mismatch: a JSON-RPC error `-32020` answering `id`.
pub(crate) fn refusal(id: serde_json::Value, why: Mismatch) -> Response<Vec<u8>> {
    let error = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": HEADER_MISMATCH, "message": why.message()},
    });
    let mut resp = Response::new(error.to_string().into_bytes());
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
