//! Tests of the policy type, its presets, rendering, validation and parsing.

use super::*;
use crate::csp::HashAlgorithm;
use proptest::prelude::*;

fn render(csp: &ContentSecurityPolicy) -> String {
    csp.to_header_value().unwrap().to_str().unwrap().to_owned()
}

#[test]
fn presets_render_exactly() {
    assert_eq!(
        render(&ContentSecurityPolicy::strict()),
        "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; \
         img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none'; \
         style-src 'self'; upgrade-insecure-requests"
    );
    assert_eq!(
        render(&ContentSecurityPolicy::api()),
        "default-src 'none'; frame-ancestors 'none'"
    );
}

#[test]
fn setting_again_replaces_and_remove_drops() {
    let csp = ContentSecurityPolicy::api()
        .default_src([Source::SELF])
        .remove(Directive::FrameAncestors)
        .add_source(Directive::ImgSrc, Source::DATA)
        .add_source(Directive::ImgSrc, Source::SELF);
    assert_eq!(render(&csp), "default-src 'self'; img-src data: 'self'");
    assert_eq!(csp.to_string(), render(&csp));
}

#[test]
fn empty_lists_mean_none_and_none_must_be_alone() {
    let csp = ContentSecurityPolicy::new().object_src([]);
    assert_eq!(render(&csp), "object-src 'none'");
    let err = ContentSecurityPolicy::new()
        .script_src([Source::NONE, Source::SELF])
        .to_header_value()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::NoneWithOtherSources {
            directive: "script-src".into()
        }
    );
    assert_eq!(
        ContentSecurityPolicy::new().to_header_value().unwrap_err(),
        ConfigError::EmptyPolicy {
            header: "content-security-policy"
        }
    );
}

#[test]
fn non_source_directives() {
    let csp = ContentSecurityPolicy::new()
        .sandbox(["allow-scripts", "allow-forms"])
        .report_uri(["/csp-reports", "https://reports.example.com/csp"])
        .report_to("csp-endpoint")
        .require_trusted_types_for_script()
        .trusted_types(["default", "'allow-duplicates'"]);
    assert_eq!(
        render(&csp),
        "sandbox allow-scripts allow-forms; report-uri /csp-reports https://reports.example.com/csp; \
         require-trusted-types-for 'script'; trusted-types default 'allow-duplicates'; report-to csp-endpoint"
    );
    assert_eq!(csp.report_to_endpoint(), Some("csp-endpoint"));
    assert_eq!(
        render(&ContentSecurityPolicy::new().sandbox(Vec::<String>::new())),
        "sandbox"
    );
}

#[test]
fn bad_values_name_directive_and_value() {
    let cases: Vec<(ContentSecurityPolicy, &str, &str)> = vec![
        (
            ContentSecurityPolicy::new().sandbox(["allow-everything"]),
            "sandbox",
            "allow-everything",
        ),
        (
            ContentSecurityPolicy::new().report_uri(["javascript:alert(1)"]),
            "report-uri",
            "javascript:alert(1)",
        ),
        (
            ContentSecurityPolicy::new().report_uri(["relative/path"]),
            "report-uri",
            "relative/path",
        ),
        (
            ContentSecurityPolicy::new().report_uri(["/a;b"]),
            "report-uri",
            "/a;b",
        ),
        (
            ContentSecurityPolicy::new().report_uri(Vec::<String>::new()),
            "report-uri",
            "",
        ),
        (
            ContentSecurityPolicy::new().report_to("Has Space"),
            "report-to",
            "Has Space",
        ),
        (
            ContentSecurityPolicy::new().trusted_types(["bad;name"]),
            "trusted-types",
            "bad;name",
        ),
        (
            ContentSecurityPolicy::new().sources(Directive::Sandbox, [Source::SELF]),
            "sandbox",
            "'self'",
        ),
        (
            ContentSecurityPolicy::new().img_src([Source::host("exa mple.com")]),
            "img-src",
            "exa mple.com",
        ),
    ];
    for (csp, directive, value) in cases {
        let msg = csp.to_header_value().unwrap_err().to_string();
        assert!(msg.contains(directive) && msg.contains(value), "{msg}");
    }
}

#[test]
fn parse_round_trips_and_validates() {
    let text = "default-src 'self'; script-src 'self' https://cdn.example.com 'sha256-n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg='; \
                sandbox allow-scripts; require-trusted-types-for 'script'; report-to csp; upgrade-insecure-requests";
    let csp: ContentSecurityPolicy = text.parse().unwrap();
    assert_eq!(render(&csp), text);
    let r = csp.render("content-security-policy", false).unwrap();
    assert_eq!(
        r.https_only_suffix,
        "; report-to csp; upgrade-insecure-requests".len(),
        "report-to and upgrade-insecure-requests are sent over HTTPS only"
    );
    let csp: ContentSecurityPolicy = "upgrade-insecure-requests; img-src 'self'".parse().unwrap();
    assert_eq!(render(&csp), "img-src 'self'; upgrade-insecure-requests");
    assert_eq!(csp.to_string(), "upgrade-insecure-requests; img-src 'self'");
    let csp: ContentSecurityPolicy = "  DEFAULT-SRC  'SELF' ;; img-src   data: ".parse().unwrap();
    assert_eq!(render(&csp), "default-src 'self'; img-src data:");

    let err = "default-src 'self'; default-src *"
        .parse::<ContentSecurityPolicy>()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::DuplicateDirective {
            directive: "default-src".into()
        }
    );
    let err = "block-all-mixed-content"
        .parse::<ContentSecurityPolicy>()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::UnknownDirective {
            name: "block-all-mixed-content".into()
        }
    );
    assert!("upgrade-insecure-requests yes"
        .parse::<ContentSecurityPolicy>()
        .is_err());
    assert!("require-trusted-types-for 'style'"
        .parse::<ContentSecurityPolicy>()
        .is_err());
    assert!("".parse::<ContentSecurityPolicy>().is_err());
    assert!("script-src self".parse::<ContentSecurityPolicy>().is_err());
}

#[test]
fn nonce_goes_into_script_and_style() {
    let r = ContentSecurityPolicy::strict()
        .render("content-security-policy", true)
        .unwrap();
    assert_eq!(r.nonce_at.len(), 2);
    let mut text = r.text.clone();
    for at in r.nonce_at.iter().rev() {
        text.insert_str(*at, "'nonce-N'");
    }
    assert!(text.contains("; script-src 'self' 'nonce-N';"), "{text}");
    assert!(text.contains("; style-src 'self' 'nonce-N';"), "{text}");
    assert!(text.contains("script-src-attr 'none'"), "{text}");
}

#[test]
fn nonce_creates_missing_directives_from_default_src_and_replaces_none() {
    let r = ContentSecurityPolicy::api()
        .render("content-security-policy", true)
        .unwrap();
    let mut text = r.text.clone();
    for at in r.nonce_at.iter().rev() {
        text.insert_str(*at, "'nonce-N'");
    }
    assert_eq!(
        text,
        "default-src 'none'; frame-ancestors 'none'; script-src 'nonce-N'; style-src 'nonce-N'"
    );

    let r = ContentSecurityPolicy::new()
        .default_src([Source::SELF, Source::HTTPS])
        .script_src_elem([Source::STRICT_DYNAMIC])
        .render("content-security-policy", true)
        .unwrap();
    let mut text = r.text.clone();
    for at in r.nonce_at.iter().rev() {
        text.insert_str(*at, "'nonce-N'");
    }
    assert_eq!(
        text,
        "default-src 'self' https:; script-src-elem 'strict-dynamic' 'nonce-N'; \
         script-src 'self' https: 'nonce-N'; style-src 'self' https: 'nonce-N'"
    );
}

fn with_nonce(csp: &ContentSecurityPolicy) -> Result<String, ConfigError> {
    let r = csp.render("content-security-policy", true)?;
    let mut text = r.text.clone();
    for at in r.nonce_at.iter().rev() {
        text.insert_str(*at, "'nonce-N'");
    }
    Ok(text)
}

#[test]
fn strict_nonce_preset_renders_the_recipe() {
    assert_eq!(
        with_nonce(&ContentSecurityPolicy::strict_nonce()).unwrap(),
        "default-src 'none'; base-uri 'none'; connect-src 'self'; font-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; img-src 'self' data:; manifest-src 'self'; \
         object-src 'none'; script-src 'strict-dynamic' https: 'unsafe-inline' 'nonce-N'; \
         style-src 'self' 'nonce-N'; upgrade-insecure-requests"
    );
    let tt = ContentSecurityPolicy::strict_nonce()
        .require_trusted_types_for_script()
        .trusted_types(["'none'"]);
    assert!(with_nonce(&tt).unwrap().ends_with(
        "; require-trusted-types-for 'script'; trusted-types 'none'; upgrade-insecure-requests"
    ));
    assert!(tt.is_strict());
    assert!(!ContentSecurityPolicy::strict().is_strict());
}

#[test]
fn strict_hash_preset_hashes_inline_scripts_once() {
    let csp = ContentSecurityPolicy::strict_hash()
        .script_hash(HashAlgorithm::Sha256, "")
        .script_hash(HashAlgorithm::Sha384, "")
        .script_hash(HashAlgorithm::Sha512, "")
        .style_hash(HashAlgorithm::Sha256, "");
    let text = render(&csp);
    assert!(text.contains(
        "script-src 'strict-dynamic' https: 'unsafe-inline' \
         'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' \
         'sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb' \
         'sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=='; \
         style-src 'self' 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
    ), "{text}");
    // the digest is of the exact bytes
    assert_ne!(
        Source::hash_of(HashAlgorithm::Sha256, "start()"),
        Source::hash_of(HashAlgorithm::Sha256, "start() ")
    );
    // a nonce from the layer also makes a hash preset valid
    assert!(with_nonce(&ContentSecurityPolicy::strict_hash()).is_ok());
}

#[test]
fn strict_presets_refuse_weakening_changes_naming_the_directive() {
    let nonce = ContentSecurityPolicy::strict_nonce;
    let hash = || ContentSecurityPolicy::strict_hash().script_hash(HashAlgorithm::Sha256, "go()");
    let cases: Vec<(&str, ContentSecurityPolicy, bool, &str)> = vec![
        ("no nonce", nonce(), false, "script-src"),
        (
            "no hash",
            ContentSecurityPolicy::strict_hash(),
            false,
            "script-src",
        ),
        (
            "host allowlist without strict-dynamic",
            nonce().script_src([Source::host("cdn.example.com"), Source::UNSAFE_INLINE]),
            true,
            "script-src",
        ),
        (
            "'self' without strict-dynamic",
            hash().script_src([Source::SELF, Source::sha256_digest([1; 32])]),
            false,
            "script-src",
        ),
        (
            "https: without strict-dynamic",
            nonce().script_src([Source::HTTPS, Source::UNSAFE_INLINE]),
            true,
            "script-src",
        ),
        (
            "unsafe-eval",
            nonce().add_source(Directive::ScriptSrc, Source::UNSAFE_EVAL),
            true,
            "script-src",
        ),
        (
            "script-src-elem allowlist",
            nonce().script_src_elem([Source::host("cdn.example.com")]),
            true,
            "script-src-elem",
        ),
        (
            "script-src removed",
            nonce().remove(Directive::ScriptSrc),
            true,
            "script-src",
        ),
        (
            "object-src opened",
            nonce().object_src([Source::SELF]),
            true,
            "object-src",
        ),
        (
            "object-src removed with default-src opened",
            nonce()
                .remove(Directive::ObjectSrc)
                .default_src([Source::SELF]),
            true,
            "object-src",
        ),
        (
            "base-uri opened",
            hash().base_uri([Source::HTTPS]),
            false,
            "base-uri",
        ),
        (
            "base-uri removed",
            nonce().remove(Directive::BaseUri),
            true,
            "base-uri",
        ),
        (
            "inline handlers",
            nonce().script_src_attr([Source::UNSAFE_INLINE]),
            true,
            "script-src-attr",
        ),
    ];
    for (what, csp, nonce, directive) in cases {
        let err = csp.render("content-security-policy", nonce).unwrap_err();
        match &err {
            ConfigError::WeakensStrictPolicy { directive: d, .. } => {
                assert_eq!(d, directive, "{what}: {err}")
            }
            other => panic!("{what}: unexpected {other:?}"),
        }
        assert!(err.to_string().contains(directive), "{what}: {err}");
    }

    // Tightening is fine: fewer fallbacks, base-uri 'self', hashed handlers.
    for ok in [
        nonce().script_src([Source::STRICT_DYNAMIC]),
        nonce().base_uri([Source::SELF]).object_src([]),
        nonce().remove(Directive::ObjectSrc),
        nonce().script_src_attr([Source::UNSAFE_HASHES, Source::sha256_digest([2; 32])]),
        nonce().script_src_elem([Source::STRICT_DYNAMIC, Source::HTTPS]),
        nonce().add_source(Directive::ScriptSrc, Source::host("cdn.example.com")),
    ] {
        assert!(with_nonce(&ok).is_ok(), "{ok}");
    }
    // A policy that is not a strict preset is not held to the recipe.
    assert!(ContentSecurityPolicy::strict().to_header_value().is_ok());
}

proptest! {
    /// Any string either parses into a policy whose header value is
    /// valid, or is refused with an error; it never panics.
    #[test]
    fn arbitrary_policy_strings_never_panic(s in "\\PC{0,120}") {
        if let Ok(csp) = s.parse::<ContentSecurityPolicy>() {
            prop_assert!(csp.to_header_value().is_ok());
            let again: ContentSecurityPolicy = csp.to_string().parse().unwrap();
            prop_assert_eq!(again, csp);
        }
    }

    /// Policy-shaped strings built from real directive names and
    /// plausible tokens, the inputs most likely to reach deep checks.
    #[test]
    fn policy_shaped_strings_never_panic(
        parts in proptest::collection::vec(
            (proptest::sample::select(Directive::ALL), proptest::collection::vec("[ -~]{0,12}", 0..4)),
            0..6,
        )
    ) {
        let text = parts
            .iter()
            .map(|(d, tokens)| format!("{} {}", d.as_str(), tokens.join(" ")))
            .collect::<Vec<_>>()
            .join("; ");
        if let Ok(csp) = text.parse::<ContentSecurityPolicy>() {
            prop_assert!(csp.to_header_value().is_ok());
            prop_assert!(csp.render("content-security-policy", true).is_ok());
        }
    }
}
