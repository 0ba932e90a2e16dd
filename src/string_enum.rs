//! One mechanism for the enums that cross the browser/server boundary and the database as fixed
//! strings — run mode, trigger and status, provider kind, role, credential status, cost source,
//! price source: [`string_enum!`] gives each `as_str`, a strict `parse` (a string that names no
//! variant is an [`UnknownValue`] error, never silently another variant), `ALL`, `Display`,
//! `FromStr`, and serde as exactly that string.

/// A string that names no variant of the enum it was read as.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    /// What was being read ("run trigger").
    pub what: &'static str,
    /// The string, cut to 40 characters.
    pub value: String,
}

impl UnknownValue {
    pub fn new(what: &'static str, value: &str) -> UnknownValue {
        UnknownValue {
            what,
            value: value.chars().take(40).collect(),
        }
    }
}

/// Declares an enum whose variants are stored and sent as fixed strings:
///
/// ```
/// galaxy_core::string_enum! {
///     /// How a run calls its provider.
///     pub enum Mode("run mode") { Mock = "mock", Live = "live" }
/// }
/// assert_eq!(Mode::parse("live"), Ok(Mode::Live));
/// assert!(Mode::parse("Live").is_err());
/// assert_eq!(serde_json::to_string(&Mode::Mock).unwrap(), "\"mock\"");
/// ```
#[macro_export]
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The variant named exactly `s`.
            pub fn parse(s: &str) -> ::std::result::Result<$name, $crate::string_enum::UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::string_enum::UnknownValue::new($what, s)),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::string_enum::UnknownValue;

            fn from_str(s: &str) -> ::std::result::Result<$name, Self::Err> {
                $name::parse(s)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        // The OpenAPI schema: a string that is one of the variants' names.
        #[cfg(feature = "openapi")]
        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl ::utoipa::ToSchema for $name {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<$name, D::Error> {
                let s = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                $name::parse(&s).map_err(::serde::de::Error::custom)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    string_enum! {
        /// A test enum.
        enum Colour("colour") { Red = "red", DarkBlue = "dark_blue" }
    }

    #[test]
    fn round_trips_and_refuses_unknown_values() {
        for c in Colour::ALL {
            assert_eq!(Colour::parse(c.as_str()), Ok(*c));
            assert_eq!(c.to_string(), c.as_str());
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(serde_json::from_str::<Colour>(&json).unwrap(), *c);
        }
        let err = Colour::parse("green").unwrap_err();
        assert_eq!(err.to_string(), "unknown colour \"green\"");
        assert!(
            serde_json::from_str::<Colour>("\"Red\"").is_err(),
            "case matters"
        );
        assert!("dark_blue".parse::<Colour>().is_ok());
        assert_eq!(
            Colour::parse(&"x".repeat(1000)).unwrap_err().value.len(),
            40
        );
    }
}
