//! Per-operation scopes: what each JSON-RPC method, and each tool of `tools/call`, needs,
//! read from the body (or, on MCP 2026-07-28, from the `Mcp-Method` / `Mcp-Name` headers;
//! see `headers`).

use std::collections::HashMap;

/// The scopes each JSON-RPC method, and each tool of `tools/call`, requires on top of the
/// policy's scopes.
#[derive(Debug, Clone, Default)]
pub struct OperationScopes {
    methods: HashMap<String, Vec<String>>,
    tools: HashMap<String, Vec<String>>,
}

impl OperationScopes {
    /// No per-operation scopes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scopes for a JSON-RPC method (`"resources/read"`).
    pub fn method<I, S>(mut self, method: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.methods
            .insert(method.into(), scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Scopes for one tool of `tools/call`.
    pub fn tool<I, S>(mut self, tool: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tools
            .insert(tool.into(), scopes.into_iter().map(Into::into).collect());
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.methods.is_empty() && self.tools.is_empty()
    }

    /// The scopes of one method (and, for `tools/call`, one tool): the method's, then the
    /// tool's. Borrowed, so the headers' decision allocates nothing.
    pub(crate) fn for_operation(&self, method: &str, tool: Option<&str>) -> [&[String]; 2] {
        let method_scopes = self.methods.get(method).map_or(&[][..], Vec::as_slice);
        let tool_scopes = match tool {
            Some(t) if method == "tools/call" => self.tools.get(t).map_or(&[][..], Vec::as_slice),
            _ => &[],
        };
        [method_scopes, tool_scopes]
    }

    /// The scopes a JSON-RPC message (or batch) needs, in first-seen order; `None` when
    /// the body is not a JSON-RPC message or batch.
    pub fn required(&self, body: &[u8]) -> Option<Vec<&str>> {
        let mut out: Vec<&str> = Vec::new();
        let mut visit = |m: &Msg<'_>| {
            let Some(method) = m.method.as_deref() else {
                return;
            };
            for s in self
                .for_operation(method, m.params.name.as_deref())
                .into_iter()
                .flatten()
            {
                if !out.contains(&s.as_str()) {
                    out.push(s);
                }
            }
        };
        // One message (the usual case) is read without a list around it.
        match body.iter().find(|b| !b.is_ascii_whitespace())? {
            b'[' => serde_json::from_slice::<Vec<Msg<'_>>>(body)
                .ok()?
                .iter()
                .for_each(&mut visit),
            b'{' => visit(&serde_json::from_slice(body).ok()?),
            _ => return None,
        }
        Some(out)
    }
}

/// One JSON-RPC message, as far as authorization reads it: its method, and the
/// `params.name` / `params.uri` that select a tool, prompt or resource.
#[derive(serde::Deserialize)]
pub(crate) struct Msg<'a> {
    #[serde(default, borrow)]
    pub(crate) method: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) params: tool_name::Target<'a>,
}

pub(crate) mod tool_name {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// `params.name` and `params.uri` of a JSON-RPC message, read in the same pass as the
    /// message: each one's string when `params` is an object with a string member of that
    /// name, else nothing (any other shape of `params` is the inner service's to judge). A
    /// repeated `name` or `uri` fails the message.
    #[derive(Default)]
    pub(crate) struct Target<'a> {
        /// `params.name` (the tool of `tools/call`, the prompt of `prompts/get`).
        pub(crate) name: Option<Cow<'a, str>>,
        /// `params.uri` (the resource of `resources/read`).
        pub(crate) uri: Option<Cow<'a, str>>,
    }

    /// Accepts any JSON value; keeps it when it is a string.
    struct AnyString<'a>(Option<Cow<'a, str>>);

    /// Which member a key of `params` is, without allocating.
    enum Key {
        Name,
        Uri,
        Other,
    }

    macro_rules! nothing_for_scalars {
        ($v:expr) => {
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok($v)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok($v)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok($v)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok($v)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok($v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok($v)
            }
        };
    }

    impl<'de> de::Deserialize<'de> for Key {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Key;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a member name")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                    Ok(match v {
                        "name" => Key::Name,
                        "uri" => Key::Uri,
                        _ => Key::Other,
                    })
                }
            }
            d.deserialize_identifier(V)
        }
    }

    impl<'de: 'a, 'a> de::Deserialize<'de> for AnyString<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = AnyString<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON value")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                    Ok(AnyString(Some(Cow::Borrowed(v))))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                    Ok(AnyString(Some(Cow::Owned(v.to_owned()))))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(AnyString(None))
                }
                nothing_for_scalars!(AnyString(None));
            }
            d.deserialize_any(V)
        }
    }

    impl<'de: 'a, 'a> de::Deserialize<'de> for Target<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Target<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("JSON-RPC params")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut name: Option<AnyString<'de>> = None;
                    let mut uri: Option<AnyString<'de>> = None;
                    while let Some(key) = map.next_key()? {
                        let (slot, field) = match key {
                            Key::Name => (&mut name, "name"),
                            Key::Uri => (&mut uri, "uri"),
                            Key::Other => {
                                map.next_value::<IgnoredAny>()?;
                                continue;
                            }
                        };
                        if slot.is_some() {
                            return Err(de::Error::duplicate_field(field));
                        }
                        *slot = Some(map.next_value()?);
                    }
                    Ok(Target {
                        name: name.and_then(|n| n.0),
                        uri: uri.and_then(|u| u.0),
                    })
                }
                fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                    Ok(Target::default())
                }
                nothing_for_scalars!(Target::default());
            }
            d.deserialize_any(V)
        }
    }
}
