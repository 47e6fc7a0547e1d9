use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// Compares two byte strings in time that depends only on their lengths, not on where
/// they differ (for secrets: tokens, client secrets, verifiers, CSRF tokens).
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

macro_rules! secret_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// `Debug` prints only the type's name, equality is constant-time in the value
        /// (it depends on the lengths only), and the memory is zeroed on drop.
        /// Serialised as the plain string, for the one place that must send or store it.
        #[derive(Clone)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a value.
            pub fn new(value: impl Into<String>) -> Self {
                $name(Zeroizing::new(value.into()))
            }

            /// The value, for the one place that must send or compare it.
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// Whether the value is empty.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                ct_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map($name::new)
            }
        }
    };
}

secret_newtype!(
    /// A client secret (RFC 6749 §2.3.1), issued at registration (RFC 7591 §3.2.1).
    ClientSecret
);
secret_newtype!(
    /// An access token (RFC 6749 §1.4), as the client holds it and the resource server
    /// receives it.
    AccessToken
);
secret_newtype!(
    /// A refresh token (RFC 6749 §1.5).
    RefreshToken
);
