//! The `http_request_method` label: the nine standard methods and `PATCH`
//! by name, everything else as `_OTHER` (OpenTelemetry HTTP semantic
//! conventions), so a client cannot mint label values.

use http::Method;

/// A request method as a label value: one of eleven fixed values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum MethodLabel {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    Other,
}

impl MethodLabel {
    /// Every value, in the order of [`index`](Self::index).
    pub(crate) const ALL: [MethodLabel; 10] = [
        MethodLabel::Get,
        MethodLabel::Head,
        MethodLabel::Post,
        MethodLabel::Put,
        MethodLabel::Delete,
        MethodLabel::Connect,
        MethodLabel::Options,
        MethodLabel::Trace,
        MethodLabel::Patch,
        MethodLabel::Other,
    ];

    pub(crate) fn of(method: &Method) -> Self {
        // `http` keeps the standard methods as an inline enum: these
        // comparisons do not look at bytes.
        match *method {
            Method::GET => MethodLabel::Get,
            Method::HEAD => MethodLabel::Head,
            Method::POST => MethodLabel::Post,
            Method::PUT => MethodLabel::Put,
            Method::DELETE => MethodLabel::Delete,
            Method::CONNECT => MethodLabel::Connect,
            Method::OPTIONS => MethodLabel::Options,
            Method::TRACE => MethodLabel::Trace,
            Method::PATCH => MethodLabel::Patch,
            _ => MethodLabel::Other,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MethodLabel::Get => "GET",
            MethodLabel::Head => "HEAD",
            MethodLabel::Post => "POST",
            MethodLabel::Put => "PUT",
            MethodLabel::Delete => "DELETE",
            MethodLabel::Connect => "CONNECT",
            MethodLabel::Options => "OPTIONS",
            MethodLabel::Trace => "TRACE",
            MethodLabel::Patch => "PATCH",
            MethodLabel::Other => "_OTHER",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn standard_methods_keep_their_names() {
        for (method, name) in [
            (Method::GET, "GET"),
            (Method::PATCH, "PATCH"),
            (Method::CONNECT, "CONNECT"),
        ] {
            assert_eq!(MethodLabel::of(&method).as_str(), name);
        }
        for (i, m) in MethodLabel::ALL.iter().enumerate() {
            assert_eq!(m.index(), i);
        }
    }

    proptest! {
        // A client-chosen method token never becomes a label value of its own.
        #[test]
        fn extension_methods_are_other(token in "[A-Za-z!#$%&'*+.^_`|~0-9-]{1,40}") {
            let method = Method::from_bytes(token.as_bytes()).unwrap();
            let label = MethodLabel::of(&method);
            if label != MethodLabel::Other {
                prop_assert_eq!(label.as_str(), method.as_str());
            }
            prop_assert!(MethodLabel::ALL.contains(&label));
        }
    }
}
