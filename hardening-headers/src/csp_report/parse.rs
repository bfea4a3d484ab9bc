//! The pure core of [`CspReportLayer`](super::CspReportLayer): a report body
//! in, violations out, borrowing from the body. No I/O; linear in the body's
//! length (one pass of the JSON reader; a Reporting API entry's `body` is
//! read twice, because its `type` may come after it). Fields are scrubbed
//! when they are logged ([`Scrubbed`](super::scrub::Scrubbed)).

use std::borrow::Cow;
use std::fmt;

use super::json::{Invalid, Reader};

/// Most reports accepted in one `application/reports+json` body.
pub(crate) const MAX_REPORTS_PER_BODY: usize = 100;

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

/// One CSP violation as the browser reported it, borrowed from the body
/// (owned only where the JSON string held escapes). Not yet scrubbed: see
/// [`log`](super::log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Violation<'a> {
    /// The directive that was violated, e.g. `script-src-elem`: checked to
    /// be a directive name.
    pub(crate) directive: Cow<'a, str>,
    /// What was blocked: a URL or a keyword such as `inline`, `eval`,
    /// `wasm-eval`, `trusted-types-sink` (empty when not sent).
    pub(crate) blocked: Cow<'a, str>,
    /// The page on which it happened.
    pub(crate) document: Cow<'a, str>,
    /// `enforce` or `report` (`enforce` when not sent).
    pub(crate) disposition: Cow<'a, str>,
    /// The script that caused it, if known.
    pub(crate) source_file: Option<Cow<'a, str>>,
    /// Line in `source_file`.
    pub(crate) line: Option<u64>,
    /// Column in `source_file`.
    pub(crate) column: Option<u64>,
}

/// The violations of one body: one for `application/csp-report`, a list for
/// the Reporting API.
#[derive(Debug)]
pub(crate) enum Parsed<'a> {
    One(Violation<'a>),
    Many(Vec<Violation<'a>>),
}

impl<'a> Parsed<'a> {
    pub(crate) fn as_slice(&self) -> &[Violation<'a>] {
        match self {
            Parsed::One(v) => std::slice::from_ref(v),
            Parsed::Many(list) => list,
        }
    }
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

/// The members of a report that are kept, before they are checked.
#[derive(Default)]
struct Fields<'a> {
    document: Option<Cow<'a, str>>,
    effective_directive: Option<Cow<'a, str>>,
    violated_directive: Option<Cow<'a, str>>,
    blocked: Option<Cow<'a, str>>,
    disposition: Option<Cow<'a, str>>,
    source_file: Option<Cow<'a, str>>,
    line: Option<u64>,
    column: Option<u64>,
}

/// The member names of [`Fields`] in one format, in field order.
type Keys = [Option<&'static str>; 8];

/// `{"csp-report": {...}}` (CSP Level 2 `report-uri`).
const LEGACY_KEYS: Keys = [
    Some("document-uri"),
    Some("effective-directive"),
    Some("violated-directive"),
    Some("blocked-uri"),
    Some("disposition"),
    Some("source-file"),
    Some("line-number"),
    Some("column-number"),
];

/// The `body` of a Reporting API `csp-violation` report.
const REPORTING_KEYS: Keys = [
    Some("documentURL"),
    Some("effectiveDirective"),
    None,
    Some("blockedURL"),
    Some("disposition"),
    Some("sourceFile"),
    Some("lineNumber"),
    Some("columnNumber"),
];

/// Reads a report object: the kept members must be strings (or integers for
/// line and column) or `null`, and appear once; others are skipped.
fn fields<'a>(r: &mut Reader<'a>, keys: &Keys) -> Result<Fields<'a>, Invalid> {
    let mut f = Fields::default();
    let mut seen = 0u8;
    r.object(|r, key| {
        let Some(i) = keys.iter().position(|k| k.is_some_and(|k| key.is(k))) else {
            return r.skip_value();
        };
        if seen & (1 << i) != 0 {
            return Err(Invalid);
        }
        seen |= 1 << i;
        match i {
            0 => f.document = r.opt_string()?,
            1 => f.effective_directive = r.opt_string()?,
            2 => f.violated_directive = r.opt_string()?,
            3 => f.blocked = r.opt_string()?,
            4 => f.disposition = r.opt_string()?,
            5 => f.source_file = r.opt_string()?,
            6 => f.line = r.opt_u64()?,
            _ => f.column = r.opt_u64()?,
        }
        Ok(())
    })?;
    Ok(f)
}

/// Parses a report body into its CSP violations (reports of other types in a
/// Reporting API body are skipped, bodies unread). All or nothing: a body
/// with one bad report yields an error and no violation.
pub(crate) fn parse(format: ReportFormat, body: &[u8]) -> Result<Parsed<'_>, Malformed> {
    let text = std::str::from_utf8(body).map_err(|_| Malformed::NotAReport)?;
    let mut r = Reader::new(text);
    let format = match format {
        ReportFormat::Json => match r.peek() {
            Some(b'[') => ReportFormat::ReportsJson,
            _ => ReportFormat::CspReport,
        },
        other => other,
    };
    match format {
        ReportFormat::CspReport | ReportFormat::Json => {
            let mut report = None;
            r.object(|r, key| {
                if !key.is("csp-report") {
                    return r.skip_value();
                }
                if report.is_some() {
                    return Err(Invalid);
                }
                report = Some(fields(r, &LEGACY_KEYS)?);
                Ok(())
            })
            .and_then(|()| r.end())
            .map_err(|Invalid| Malformed::NotAReport)?;
            let mut f = report.ok_or(Malformed::NotAReport)?;
            // CSP2 browsers send only violated-directive, which is the
            // directive followed by its sources: keep the name.
            let directive = f
                .effective_directive
                .take()
                .or(f.violated_directive.take())
                .ok_or(Malformed::MissingField("effective-directive"))?;
            let directive = match directive {
                Cow::Borrowed(d) => Cow::Borrowed(first_word(d)),
                Cow::Owned(d) => Cow::Owned(first_word(&d).to_owned()),
            };
            let document = f
                .document
                .take()
                .ok_or(Malformed::MissingField("document-uri"))?;
            Ok(Parsed::One(violation(directive, document, f)?))
        }
        ReportFormat::ReportsJson => {
            let mut out = Vec::new();
            let mut entries = 0;
            // the first report that is JSON but not a valid violation: told
            // only once the whole body is known to be JSON
            let mut refused = None;
            r.array(|r| {
                entries += 1;
                if entries > MAX_REPORTS_PER_BODY {
                    return Err(Invalid);
                }
                let (mut kind, mut body, mut seen_body) = (None, None, false);
                r.object(|r, key| {
                    if key.is("type") {
                        if kind.is_some() {
                            return Err(Invalid);
                        }
                        kind = Some(r.string()?);
                    } else if key.is("body") {
                        if seen_body {
                            return Err(Invalid);
                        }
                        seen_body = true;
                        match r.peek() {
                            Some(b'n') => r.skip_value()?, // null
                            Some(b'{') => {
                                let start = r.offset();
                                r.skip_value()?;
                                let end = r.offset();
                                body = Some(r.slice(start, end));
                            }
                            _ => return Err(Invalid),
                        }
                    } else {
                        r.skip_value()?;
                    }
                    Ok(())
                })?;
                if !kind.ok_or(Invalid)?.is("csp-violation") {
                    return Ok(());
                }
                let Some(body) = body else {
                    refused = refused.or(Some(Malformed::MissingField("body")));
                    return Ok(());
                };
                let mut inner = Reader::new(body);
                let mut f = fields(&mut inner, &REPORTING_KEYS)?;
                let checked = f
                    .effective_directive
                    .take()
                    .ok_or(Malformed::MissingField("effectiveDirective"))
                    .and_then(|d| {
                        let document = f
                            .document
                            .take()
                            .ok_or(Malformed::MissingField("documentURL"))?;
                        violation(d, document, f)
                    });
                match checked {
                    Ok(v) if refused.is_none() => out.push(v),
                    Ok(_) => {}
                    Err(reason) => refused = refused.or(Some(reason)),
                }
                Ok(())
            })
            .and_then(|()| r.end())
            .map_err(|Invalid| {
                if entries > MAX_REPORTS_PER_BODY {
                    Malformed::TooManyReports
                } else {
                    Malformed::NotAReport
                }
            })?;
            match refused {
                Some(reason) => Err(reason),
                None => Ok(Parsed::Many(out)),
            }
        }
    }
}

fn first_word(s: &str) -> &str {
    s.split_ascii_whitespace().next().unwrap_or_default()
}

fn violation<'a>(
    directive: Cow<'a, str>,
    document: Cow<'a, str>,
    f: Fields<'a>,
) -> Result<Violation<'a>, Malformed> {
    let is_name = !directive.is_empty()
        && directive.len() <= 40
        && directive
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-');
    if !is_name {
        return Err(Malformed::BadDirective);
    }
    Ok(Violation {
        directive,
        blocked: f.blocked.unwrap_or_default(),
        document,
        disposition: f.disposition.unwrap_or(Cow::Borrowed("enforce")),
        source_file: f.source_file,
        line: f.line,
        column: f.column,
    })
}

#[cfg(test)]
mod tests {
    use super::super::scrub::{scrub_uri, Scrubbed, MAX_DISPOSITION_LEN, MAX_FIELD_LEN};
    use super::*;
    use proptest::prelude::*;

    /// A violation as logged: each field as the log shows it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(super) struct Logged {
        pub(super) directive: String,
        pub(super) blocked_uri: String,
        pub(super) document_uri: String,
        pub(super) disposition: String,
        pub(super) source_file: Option<String>,
        pub(super) line: Option<u64>,
        pub(super) column: Option<u64>,
    }

    fn logged(v: &Violation<'_>) -> Logged {
        Logged {
            directive: v.directive.to_string(),
            blocked_uri: Scrubbed::uri(&v.blocked).to_string(),
            document_uri: Scrubbed::uri(&v.document).to_string(),
            disposition: Scrubbed::text(&v.disposition, MAX_DISPOSITION_LEN).to_string(),
            source_file: v.source_file.as_deref().map(scrub_uri),
            line: v.line,
            column: v.column,
        }
    }

    fn parse_logged(format: ReportFormat, body: &[u8]) -> Result<Vec<Logged>, Malformed> {
        parse(format, body).map(|p| p.as_slice().iter().map(logged).collect())
    }

    /// The first implementation (serde derive, `Cow` fields), kept as the
    /// reference the hand-written reader is compared with.
    mod reference {
        use std::borrow::Cow;

        use serde::Deserialize;

        use super::super::super::scrub::{scrub_uri, Scrubbed, MAX_DISPOSITION_LEN};
        use super::super::{Malformed, ReportFormat, MAX_REPORTS_PER_BODY};
        use super::Logged;

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
        pub(super) fn parse(format: ReportFormat, body: &[u8]) -> Result<Vec<Logged>, Malformed> {
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
        ) -> Result<Logged, Malformed> {
            let is_name = !directive.is_empty()
                && directive.len() <= 40
                && directive
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-');
            if !is_name {
                return Err(Malformed::BadDirective);
            }
            Ok(Logged {
                directive: directive.to_owned(),
                blocked_uri: scrub_uri(blocked.unwrap_or_default()),
                document_uri: scrub_uri(document),
                disposition: Scrubbed::text(disposition.unwrap_or("enforce"), MAX_DISPOSITION_LEN)
                    .to_string(),
                source_file: source_file.map(scrub_uri),
                line,
                column,
            })
        }
    }

    const CHROME_REPORT_URI: &str = r#"{"csp-report":{"document-uri":"https://example.com/page?token=s3cr3t#frag","referrer":"","violated-directive":"script-src-elem","effective-directive":"script-src-elem","original-policy":"script-src 'nonce-x'","disposition":"enforce","blocked-uri":"inline","line-number":12,"column-number":5,"source-file":"https://example.com/page?token=s3cr3t","status-code":200,"script-sample":"alert(1)"}}"#;

    const REPORTING_API: &str = r#"[{"age":3,"body":{"blockedURL":"https://user:pw@evil.example/x.js?q=1","columnNumber":9,"disposition":"enforce","documentURL":"https://example.com/app?session=abc","effectiveDirective":"script-src-elem","lineNumber":3,"originalPolicy":"...","referrer":"","sample":"","sourceFile":"https://example.com/app","statusCode":200},"type":"csp-violation","url":"https://example.com/app?session=abc","user_agent":"Chrome"},{"age":1,"body":{"id":"x","message":"deprecated"},"type":"deprecation","url":"https://example.com/","user_agent":"Chrome"}]"#;

    #[test]
    fn report_uri_bodies() {
        let parsed = parse(ReportFormat::CspReport, CHROME_REPORT_URI.as_bytes()).unwrap();
        let v = &parsed.as_slice()[0];
        assert!(
            matches!(v.document, Cow::Borrowed(_)),
            "no escapes: borrowed from the body"
        );
        let want = Logged {
            directive: "script-src-elem".into(),
            blocked_uri: "inline".into(),
            document_uri: "https://example.com/page".into(),
            disposition: "enforce".into(),
            source_file: Some("https://example.com/page".into()),
            line: Some(12),
            column: Some(5),
        };
        assert_eq!(
            parse_logged(ReportFormat::CspReport, CHROME_REPORT_URI.as_bytes()),
            Ok(vec![want.clone()])
        );
        assert_eq!(
            reference::parse(ReportFormat::CspReport, CHROME_REPORT_URI.as_bytes()),
            Ok(vec![want])
        );
        // CSP2 browsers: only violated-directive, with its sources
        let csp2 = r#"{"csp-report":{"document-uri":"http://a.example/","violated-directive":"img-src 'self'","blocked-uri":"http://b.example/i.png?x"}}"#;
        let v = parse_logged(ReportFormat::Json, csp2.as_bytes()).unwrap();
        assert_eq!(v[0].directive, "img-src");
        assert_eq!(v[0].blocked_uri, "http://b.example/i.png");
        // escapes are decoded (then the field is owned)
        let escaped = r#"{"csp-report":{"document-uri":"https:\/\/a.example\/\u00e9?q","effective-directive":"img\u002dsrc"}}"#;
        let v = parse_logged(ReportFormat::CspReport, escaped.as_bytes()).unwrap();
        assert_eq!(v[0].document_uri, "https://a.example/é");
        assert_eq!(v[0].directive, "img-src");
    }

    #[test]
    fn reporting_api_bodies_keep_only_csp_violations() {
        let v = parse_logged(ReportFormat::ReportsJson, REPORTING_API.as_bytes()).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].directive, "script-src-elem");
        assert_eq!(
            v[0].blocked_uri, "https://evil.example/x.js",
            "credentials and query gone"
        );
        assert_eq!(v[0].document_uri, "https://example.com/app");
        assert_eq!(
            parse_logged(ReportFormat::Json, REPORTING_API.as_bytes()).unwrap(),
            v
        );
        assert_eq!(
            reference::parse(ReportFormat::ReportsJson, REPORTING_API.as_bytes()).unwrap(),
            v
        );
        // `type` after `body` (Chrome sorts the keys), or before it
        let before = r#"[{"type":"csp-violation","body":{"documentURL":"https://a/","effectiveDirective":"img-src"}}]"#;
        assert_eq!(
            parse_logged(ReportFormat::ReportsJson, before.as_bytes())
                .unwrap()
                .len(),
            1
        );
        // other report types' bodies are not read as violations
        let other = r#"[{"type":"intervention","body":{"lineNumber":"not a number"}}]"#;
        assert_eq!(
            parse_logged(ReportFormat::ReportsJson, other.as_bytes()),
            Ok(vec![])
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
            assert_eq!(parse_logged(*format, body.as_bytes()), Err(*want), "{body}");
            assert_eq!(
                reference::parse(*format, body.as_bytes()),
                Err(*want),
                "{body}"
            );
        }
        let many = format!(
            "[{}]",
            vec![r#"{"type":"x"}"#; MAX_REPORTS_PER_BODY + 1].join(",")
        );
        assert_eq!(
            parse_logged(ReportFormat::ReportsJson, many.as_bytes()),
            Err(Malformed::TooManyReports)
        );
        // one bad report spoils the body: nothing is returned
        let mixed = r#"[{"type":"csp-violation","body":{"documentURL":"a","effectiveDirective":"img-src"}},{"type":"csp-violation","body":{}}]"#;
        assert!(parse(ReportFormat::ReportsJson, mixed.as_bytes()).is_err());
    }

    fn assert_scrubbed(v: &Logged) {
        for field in [&v.blocked_uri, &v.document_uri]
            .into_iter()
            .chain(v.source_file.as_ref())
        {
            assert!(!field.contains(['?', '#']), "{field}");
            assert!(!field.chars().any(char::is_control), "{field}");
            assert!(field.len() <= MAX_FIELD_LEN + '…'.len_utf8(), "{field}");
        }
    }

    /// A JSON value of any type, for the members of generated reports.
    fn any_value() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-z:/?#@.\u{e9}\n\"\\\\-]{0,24}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            1 => Just("null".to_owned()),
            1 => any::<u32>().prop_map(|n| n.to_string()),
            1 => Just("-3".to_owned()),
            1 => Just("1.5".to_owned()),
            1 => Just("true".to_owned()),
            1 => Just(r#"{"x":[1,{}]}"#.to_owned()),
            1 => Just("[]".to_owned()),
        ]
    }

    /// A report object: known and unknown members, in any order, sometimes
    /// twice.
    fn report_object(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
        proptest::collection::vec((proptest::sample::select(keys), any_value(), 0..3u8), 0..8)
            .prop_map(|members| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(key, value, kind)| match kind {
                        // a plausible value for the key
                        0 if key.contains("ine") || key.contains("olumn") => format!("\"{key}\":7"),
                        0 if key.contains("irective") => format!("\"{key}\":\"script-src\""),
                        _ => format!("\"{key}\":{value}"),
                    })
                    .collect();
                format!("{{{}}}", members.join(","))
            })
    }

    const LEGACY: &[&str] = &[
        "document-uri",
        "effective-directive",
        "violated-directive",
        "blocked-uri",
        "disposition",
        "source-file",
        "line-number",
        "column-number",
        "referrer",
        "script-sample",
    ];
    const REPORTING: &[&str] = &[
        "documentURL",
        "effectiveDirective",
        "blockedURL",
        "disposition",
        "sourceFile",
        "lineNumber",
        "columnNumber",
        "sample",
        "statusCode",
    ];

    proptest! {
        /// Arbitrary bytes never panic, whatever is accepted is scrubbed, and
        /// the reader accepts nothing the reference refuses.
        #[test]
        fn arbitrary_bodies(body in proptest::collection::vec(any::<u8>(), 0..512), f in 0..3u8) {
            let format = [ReportFormat::CspReport, ReportFormat::ReportsJson, ReportFormat::Json][f as usize];
            if let Ok(violations) = parse_logged(format, &body) {
                for v in &violations {
                    assert_scrubbed(v);
                }
                prop_assert_eq!(reference::parse(format, &body), Ok(violations));
            }
        }

        /// Report-shaped bodies (members of every type, repeated, unknown):
        /// the reader and the reference agree on every one, accepted or not.
        #[test]
        fn agrees_with_the_reference(
            legacy in report_object(LEGACY),
            bodies in proptest::collection::vec((report_object(REPORTING), 0..4u8), 0..4),
            trailing in proptest::sample::select(vec!["", " ", " x", ","]),
        ) {
            let body = format!(r#"{{"age":1,"csp-report":{legacy}}}{trailing}"#);
            let got = parse_logged(ReportFormat::CspReport, body.as_bytes());
            prop_assert_eq!(&got, &reference::parse(ReportFormat::CspReport, body.as_bytes()), "{}", body);
            for v in got.iter().flatten() {
                assert_scrubbed(v);
            }
            let entries: Vec<String> = bodies
                .iter()
                .map(|(b, shape)| match shape {
                    0 => format!(r#"{{"type":"csp-violation","body":{b}}}"#),
                    1 => format!(r#"{{"body":{b},"age":2,"type":"csp-violation"}}"#),
                    2 => r#"{"type":"deprecation","body":{"id":"x","message":"m"}}"#.to_owned(),
                    _ => r#"{"type":"csp-violation","body":null}"#.to_owned(),
                })
                .collect();
            let body = format!("[{}]{trailing}", entries.join(","));
            let got = parse_logged(ReportFormat::ReportsJson, body.as_bytes());
            prop_assert_eq!(&got, &reference::parse(ReportFormat::ReportsJson, body.as_bytes()), "{}", body);
            for v in got.iter().flatten() {
                assert_scrubbed(v);
            }
        }

        /// Report-shaped bodies with arbitrary field values: accepted ones
        /// are scrubbed, and the query string never reaches the output.
        #[test]
        fn report_shaped_bodies(
            doc in "\\PC{0,80}", blocked in "\\PC{0,80}", directive in "[a-z\\- ]{0,20}",
            secret in "[a-z0-9]{8}",
        ) {
            let doc = format!("{doc}?secret={secret}");
            let body = serde_json::json!({"csp-report": {
                "document-uri": doc, "blocked-uri": blocked, "effective-directive": directive,
            }}).to_string();
            if let Ok(violations) = parse_logged(ReportFormat::CspReport, body.as_bytes()) {
                prop_assert_eq!(violations.len(), 1);
                assert_scrubbed(&violations[0]);
                let leaked = format!("secret={secret}");
                prop_assert!(!violations[0].document_uri.contains(&leaked));
            }
            let body = serde_json::json!([{"type": "csp-violation", "body": {
                "documentURL": doc, "blockedURL": blocked, "effectiveDirective": directive,
            }}]).to_string();
            if let Ok(violations) = parse_logged(ReportFormat::ReportsJson, body.as_bytes()) {
                assert_scrubbed(&violations[0]);
            }
        }
    }
}
