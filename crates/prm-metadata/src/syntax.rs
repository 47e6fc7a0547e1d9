//! RFC 9110 §5.6 building blocks shared by the `WWW-Authenticate` and `Forwarded` parsers.

/// `tchar` (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// A cursor over a header value.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// What is left to read.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Skips optional whitespace (SP / HTAB); returns how many bytes were skipped.
    pub(crate) fn skip_ows(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Consumes `b` when it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A `token` (1*tchar), or `None` without moving.
    pub(crate) fn token(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        self.slice(start)
    }

    /// `token68` (RFC 9110 §11.2): `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    pub(crate) fn token68(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        }) {
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        while self.eat(b'=') {}
        self.slice(start)
    }

    fn slice(&self, start: usize) -> Option<&'a str> {
        if self.pos == start {
            return None;
        }
        self.bytes
            .get(start..self.pos)
            .and_then(|b| std::str::from_utf8(b).ok())
    }

    /// A `quoted-string` (RFC 9110 §5.6.4), unescaped. `None` (and the position of the
    /// fault) when it is malformed. Non-ASCII (`obs-text`) is refused.
    pub(crate) fn quoted_string(&mut self) -> Result<Option<String>, usize> {
        if !self.eat(b'"') {
            return Ok(None);
        }
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.peek() {
                None => return Err(at),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Some(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b) if b == b'\t' || (0x20..0x7f).contains(&b) => {
                            out.push(char::from(b));
                            self.pos += 1;
                        }
                        _ => return Err(self.pos),
                    }
                }
                Some(b) if b == b'\t' || (0x20..0x7f).contains(&b) => {
                    out.push(char::from(b));
                    self.pos += 1;
                }
                Some(_) => return Err(at),
            }
        }
    }
}

/// Writes `value` as a quoted-string: `"` and `\` escaped, every other byte printable
/// ASCII or a space. `None` when the value has a control character or non-ASCII, which
/// would let it break out of the header.
pub(crate) fn quote(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => return None,
        }
    }
    out.push('"');
    Some(out)
}
