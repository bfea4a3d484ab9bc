//! The pure core of [`CspReportLayer`](super::CspReportLayer): a report body
//! in, scrubbed violations out. No I/O; linear in the body's length (JSON
//! parsing, then one pass over each logged field).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;

/// Most reports accepted in one `application/reports+json` body.
pub(crate) const MAX_REPORTS_PER_BODY: usize = 100;

/// Longest field kept in a logged violation, in bytes; longer ones are cut
/// (at a character boundary) and end in `…`.
pub const MAX_FIELD_LEN: usize = 512;

/// How a report body is encoded, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReportFormat {
    /// `application/csp-report`: one report, sent for `report-uri`.
    CspReport,
    /// `application/reports+json`: the Reporting API (`report-to`), an array
    /// of reports of any type.
    ReportsJson,
    /// `application/json`: either, told apart by shape (some browsers send
    /// `report-uri` reports with this type).
    Json,
}

impl ReportFormat {
    /// The format of a `Content-Type` value, parameters ignored.
    pub(crate) fn from_content_type(value: &[u8]) -> Option<ReportFormat> {
        let essence = value.split(|&b| b == b';').next().unwrap_or_default();
        let essence = essence.trim_ascii();
        if essence.eq_ignore_ascii_case(b"application/csp-report") {
            Some(ReportFormat::CspReport)
        } else if essence.eq_ignore_ascii_case(b"application/reports+json") {
            Some(ReportFormat::ReportsJson)
        } else if essence.eq_ignore_ascii_case(b"application/json") {
            Some(ReportFormat::Json)
        } else {
            None
        }
    }
}

/// One CSP violation, as logged: every URI without its query string,
/// fragment and credentials, every field free of control characters and at
/// most [`MAX_FIELD_LEN`] bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The directive that was violated, e.g. `script-src-elem`.
    pub directive: String,
    /// What was blocked: a URL (scrubbed) or a keyword such as `inline`,
    /// `eval`, `wasm-eval`, `trusted-types-sink`.
    pub blocked_uri: String,
    /// The page on which it happened (scrubbed).
    pub document_uri: String,
    /// `enforce` or `report`.
    pub disposition: String,
    /// The script that caused it, if known (scrubbed).
    pub source_file: Option<String>,
    /// Line in `source_file`.
    pub line: Option<u64>,
    /// Column in `source_file`.
    pub column: Option<u64>,
}

/// Why a body was refused. Carries no part of the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Not JSON, or not the shape of a report.
    NotAReport,
    /// A report without the document URI or the directive.
    MissingField(&'static str),
    /// A directive that is not a directive name.
    BadDirective,
    /// More than [`MAX_REPORTS_PER_BODY`] reports.
    TooManyReports,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::NotAReport => f.write_str("not a CSP violation report"),
            Malformed::MissingField(field) => write!(f, "report without {field}"),
            Malformed::BadDirective => f.write_str("the directive is not a directive name"),
            Malformed::TooManyReports => {
                write!(f, "more than {MAX_REPORTS_PER_BODY} reports in one body")
            }
        }
    }
}

/// `{"csp-report": {...}}` (CSP Level 2 `report-uri`).
#[derive(Deserialize)]
struct LegacyEnvelope<'a> {
    #[serde(rename = "csp-report", borrow)]
    report: LegacyReport<'a>,
}

#[derive(Deserialize)]
struct LegacyReport<'a> {
    #[serde(rename = "document-uri", borrow)]
    document_uri: Option<Cow<'a, str>>,
    #[serde(rename = "effective-directive", borrow)]
    effective_directive: Option<Cow<'a, str>>,
    #[serde(rename = "violated-directive", borrow)]
    violated_directive: Option<Cow<'a, str>>,
    #[serde(rename = "blocked-uri", borrow)]
    blocked_uri: Option<Cow<'a, str>>,
    #[serde(borrow)]
    disposition: Option<Cow<'a, str>>,
    #[serde(rename = "source-file", borrow)]
    source_file: Option<Cow<'a, str>>,
    #[serde(rename = "line-number")]
    line: Option<u64>,
    #[serde(rename = "column-number")]
    column: Option<u64>,
}

/// One entry of a Reporting API body.
#[derive(Deserialize)]
struct ReportingEntry<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    body: Option<ReportingBody<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportingBody<'a> {
    #[serde(rename = "documentURL", borrow)]
    document_url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    effective_directive: Option<Cow<'a, str>>,
    #[serde(rename = "blockedURL", borrow)]
    blocked_url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    disposition: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source_file: Option<Cow<'a, str>>,
    line_number: Option<u64>,
    column_number: Option<u64>,
}

/// Parses a report body into its CSP violations (reports of other types in a
/// Reporting API body are skipped). All or nothing: a body with one bad
/// report yields an error and no violation.
pub(crate) fn parse(format: ReportFormat, body: &[u8]) -> Result<Vec<Violation>, Malformed> {
    let format = match format {
        ReportFormat::Json => match body.trim_ascii_start().first() {
            Some(b'[') => ReportFormat::ReportsJson,
            _ => ReportFormat::CspReport,
        },
        other => other,
    };
    match format {
        ReportFormat::CspReport | ReportFormat::Json => {
            let envelope: LegacyEnvelope<'_> =
                serde_json::from_slice(body).map_err(|_| Malformed::NotAReport)?;
            let r = envelope.report;
            // CSP2 browsers send only violated-directive, which is the
            // directive followed by its sources: keep the name.
            let directive = r
                .effective_directive
                .or(r.violated_directive)
                .ok_or(Malformed::MissingField("effective-directive"))?;
            let directive = directive
                .split_ascii_whitespace()
                .next()
                .unwrap_or_default();
            Ok(vec![violation(
                directive,
                r.blocked_uri.as_deref(),
                r.document_uri
                    .as_deref()
                    .ok_or(Malformed::MissingField("document-uri"))?,
                r.disposition.as_deref(),
                r.source_file.as_deref(),
                r.line,
                r.column,
            )?])
        }
        ReportFormat::ReportsJson => {
            let entries: Vec<ReportingEntry<'_>> =
                serde_json::from_slice(body).map_err(|_| Malformed::NotAReport)?;
            if entries.len() > MAX_REPORTS_PER_BODY {
                return Err(Malformed::TooManyReports);
            }
            let mut out = Vec::with_capacity(entries.len());
            for entry in entries {
                if entry.kind != "csp-violation" {
                    continue;
                }
                let b = entry.body.ok_or(Malformed::MissingField("body"))?;
                out.push(violation(
                    b.effective_directive
                        .as_deref()
                        .ok_or(Malformed::MissingField("effectiveDirective"))?,
                    b.blocked_url.as_deref(),
                    b.document_url
                        .as_deref()
                        .ok_or(Malformed::MissingField("documentURL"))?,
                    b.disposition.as_deref(),
                    b.source_file.as_deref(),
                    b.line_number,
                    b.column_number,
                )?);
            }
            Ok(out)
        }
    }
}

fn violation(
    directive: &str,
    blocked: Option<&str>,
    document: &str,
    disposition: Option<&str>,
    source_file: Option<&str>,
    line: Option<u64>,
    column: Option<u64>,
) -> Result<Violation, Malformed> {
    let is_name = !directive.is_empty()
        && directive.len() <= 40
        && directive
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-');
    if !is_name {
        return Err(Malformed::BadDirective);
    }
    Ok(Violation {
        directive: directive.to_owned(),
        blocked_uri: scrub_uri(blocked.unwrap_or_default()),
        document_uri: scrub_uri(document),
        disposition: clean(disposition.unwrap_or("enforce"), 16),
        source_file: source_file.map(scrub_uri),
        line,
        column,
    })
}

/// A URI as logged: without query string, fragment and `user:password@`,
/// without control characters, at most [`MAX_FIELD_LEN`] bytes. Values that
/// are not URLs (`inline`, `eval`) pass through.
pub fn scrub_uri(uri: &str) -> String {
    let end = uri.find(['?', '#']).unwrap_or(uri.len());
    let uri = &uri[..end];
    let without_credentials = match uri.find("://") {
        Some(i) => {
            let authority_start = i + 3;
            let authority_end = uri[authority_start..]
                .find('/')
                .map_or(uri.len(), |j| authority_start + j);
            match uri[authority_start..authority_end].rfind('@') {
                Some(at) => Cow::Owned(format!(
                    "{}{}",
                    &uri[..authority_start],
                    &uri[authority_start + at + 1..]
                )),
                None => Cow::Borrowed(uri),
            }
        }
        None => Cow::Borrowed(uri),
    };
    clean(&without_credentials, MAX_FIELD_LEN)
}

/// Control characters replaced (no log-line injection), cut to `max` bytes.
fn clean(value: &str, max: usize) -> String {
    let mut out = String::with_capacity(value.len().min(max + 3));
    for c in value.chars() {
        if out.len() + c.len_utf8() > max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { '\u{fffd}' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CHROME_REPORT_URI: &str = r#"{"csp-report":{"document-uri":"https://example.com/page?token=s3cr3t#frag","referrer":"","violated-directive":"script-src-elem","effective-directive":"script-src-elem","original-policy":"script-src 'nonce-x'","disposition":"enforce","blocked-uri":"inline","line-number":12,"column-number":5,"source-file":"https://example.com/page?token=s3cr3t","status-code":200,"script-sample":"alert(1)"}}"#;

    const REPORTING_API: &str = r#"[{"age":3,"body":{"blockedURL":"https://user:pw@evil.example/x.js?q=1","columnNumber":9,"disposition":"enforce","documentURL":"https://example.com/app?session=abc","effectiveDirective":"script-src-elem","lineNumber":3,"originalPolicy":"...","referrer":"","sample":"","sourceFile":"https://example.com/app","statusCode":200},"type":"csp-violation","url":"https://example.com/app?session=abc","user_agent":"Chrome"},{"age":1,"body":{"id":"x","message":"deprecated"},"type":"deprecation","url":"https://example.com/","user_agent":"Chrome"}]"#;

    #[test]
    fn report_uri_bodies() {
        let v = parse(ReportFormat::CspReport, CHROME_REPORT_URI.as_bytes()).unwrap();
        assert_eq!(
            v,
            [Violation {
                directive: "script-src-elem".into(),
                blocked_uri: "inline".into(),
                document_uri: "https://example.com/page".into(),
                disposition: "enforce".into(),
                source_file: Some("https://example.com/page".into()),
                line: Some(12),
                column: Some(5),
            }]
        );
        // CSP2 browsers: only violated-directive, with its sources
        let csp2 = r#"{"csp-report":{"document-uri":"http://a.example/","violated-directive":"img-src 'self'","blocked-uri":"http://b.example/i.png?x"}}"#;
        let v = parse(ReportFormat::Json, csp2.as_bytes()).unwrap();
        assert_eq!(v[0].directive, "img-src");
        assert_eq!(v[0].blocked_uri, "http://b.example/i.png");
    }

    #[test]
    fn reporting_api_bodies_keep_only_csp_violations() {
        let v = parse(ReportFormat::ReportsJson, REPORTING_API.as_bytes()).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].directive, "script-src-elem");
        assert_eq!(
            v[0].blocked_uri, "https://evil.example/x.js",
            "credentials and query gone"
        );
        assert_eq!(v[0].document_uri, "https://example.com/app");
        assert_eq!(
            parse(ReportFormat::Json, REPORTING_API.as_bytes()).unwrap(),
            v
        );
    }

    #[test]
    fn malformed_bodies_are_refused_whole() {
        let cases: &[(ReportFormat, &str, Malformed)] = &[
            (ReportFormat::CspReport, "", Malformed::NotAReport),
            (ReportFormat::CspReport, "{}", Malformed::NotAReport),
            (
                ReportFormat::CspReport,
                r#"{"csp-report":{"document-uri":"x"}}"#,
                Malformed::MissingField("effective-directive"),
            ),
            (
                ReportFormat::CspReport,
                r#"{"csp-report":{"effective-directive":"img-src"}}"#,
                Malformed::MissingField("document-uri"),
            ),
            (
                ReportFormat::CspReport,
                r#"{"csp-report":{"document-uri":"x","effective-directive":"IMG SRC\n"}}"#,
                Malformed::BadDirective,
            ),
            (
                ReportFormat::ReportsJson,
                r#"{"type":"csp-violation"}"#,
                Malformed::NotAReport,
            ),
            (
                ReportFormat::ReportsJson,
                r#"[{"type":"csp-violation","body":{"documentURL":"x"}}]"#,
                Malformed::MissingField("effectiveDirective"),
            ),
            (
                ReportFormat::ReportsJson,
                r#"[{"type":"csp-violation"}]"#,
                Malformed::MissingField("body"),
            ),
        ];
        for (format, body, want) in cases {
            assert_eq!(parse(*format, body.as_bytes()), Err(*want), "{body}");
        }
        let many = format!(
            "[{}]",
            vec![r#"{"type":"x"}"#; MAX_REPORTS_PER_BODY + 1].join(",")
        );
        assert_eq!(
            parse(ReportFormat::ReportsJson, many.as_bytes()),
            Err(Malformed::TooManyReports)
        );
        // one bad report spoils the body: nothing is returned
        let mixed = r#"[{"type":"csp-violation","body":{"documentURL":"a","effectiveDirective":"img-src"}},{"type":"csp-violation","body":{}}]"#;
        assert!(parse(ReportFormat::ReportsJson, mixed.as_bytes()).is_err());
    }

    #[test]
    fn scrubbing() {
        assert_eq!(
            scrub_uri("https://a.example/p?q=1#f"),
            "https://a.example/p"
        );
        assert_eq!(
            scrub_uri("https://u:p@a.example/p@x"),
            "https://a.example/p@x"
        );
        assert_eq!(scrub_uri("inline"), "inline");
        assert_eq!(scrub_uri("a\r\nb"), "a\u{fffd}\u{fffd}b");
        let long = scrub_uri(&"é".repeat(1000));
        assert!(long.len() <= MAX_FIELD_LEN + '…'.len_utf8() && long.ends_with('…'));
        assert_eq!(
            ReportFormat::from_content_type(b"Application/CSP-Report; charset=utf-8"),
            Some(ReportFormat::CspReport)
        );
        assert_eq!(ReportFormat::from_content_type(b"text/plain"), None);
    }

    fn assert_scrubbed(v: &Violation) {
        for field in [&v.blocked_uri, &v.document_uri]
            .into_iter()
            .chain(v.source_file.as_ref())
        {
            assert!(!field.contains(['?', '#']), "{field}");
            assert!(!field.chars().any(char::is_control), "{field}");
            assert!(field.len() <= MAX_FIELD_LEN + 3, "{field}");
        }
    }

    proptest! {
        /// Arbitrary bytes never panic, and whatever is accepted is scrubbed.
        #[test]
        fn arbitrary_bodies(body in proptest::collection::vec(any::<u8>(), 0..512), f in 0..3u8) {
            let format = [ReportFormat::CspReport, ReportFormat::ReportsJson, ReportFormat::Json][f as usize];
            if let Ok(violations) = parse(format, &body) {
                for v in &violations {
                    assert_scrubbed(v);
                }
            }
        }

        /// Report-shaped bodies with arbitrary field values: accepted ones
        /// are scrubbed, and the raw values never reach the output beyond
        /// what scrubbing keeps.
        #[test]
        fn report_shaped_bodies(
            doc in "\\PC{0,80}", blocked in "\\PC{0,80}", directive in "[a-z\\- ]{0,20}",
            secret in "[a-z0-9]{8}",
        ) {
            let doc = format!("{doc}?secret={secret}");
            let body = serde_json::json!({"csp-report": {
                "document-uri": doc, "blocked-uri": blocked, "effective-directive": directive,
            }}).to_string();
            if let Ok(violations) = parse(ReportFormat::CspReport, body.as_bytes()) {
                prop_assert_eq!(violations.len(), 1);
                assert_scrubbed(&violations[0]);
                let leaked = format!("secret={secret}");
                prop_assert!(!violations[0].document_uri.contains(&leaked));
            }
            let body = serde_json::json!([{"type": "csp-violation", "body": {
                "documentURL": doc, "blockedURL": blocked, "effectiveDirective": directive,
            }}]).to_string();
            if let Ok(violations) = parse(ReportFormat::ReportsJson, body.as_bytes()) {
                assert_scrubbed(&violations[0]);
            }
        }
    }
}
