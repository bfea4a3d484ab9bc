//! The built-in value patterns.

/// A built-in value pattern, enabled by default; switch one off with
/// [`RedactorBuilder::disable`](crate::RedactorBuilder::disable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pattern {
    /// `Bearer <token>` and `Basic <base64 user:password>` credentials.
    AuthScheme,
    /// JSON Web Tokens (`eyJ...` header, payload and signature; JWE too).
    Jwt,
    /// AWS access key ids (`AKIA...`, `ASIA...`).
    AwsAccessKeyId,
    /// GitHub tokens: `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`.
    GitHubToken,
    /// Stripe secret and restricted keys (`sk_live_`, `rk_test_`, ...) and
    /// webhook secrets (`whsec_`).
    StripeKey,
    /// Slack tokens (`xoxb-`, `xoxp-`, `xapp-`, ...) and incoming-webhook URLs.
    SlackToken,
    /// PEM private-key blocks (`-----BEGIN ... PRIVATE KEY-----`).
    PrivateKey,
    /// The password in `scheme://user:password@host` (or a long token used
    /// as the user name).
    UrlUserinfo,
    /// Sensitive query parameters in any URL (`?token=...`,
    /// percent-encoded names too) and percent-encoded URLs nested in
    /// parameter values.
    QueryParam,
    /// `key=value`, `key: value`, `"key": "value"` pairs whose key is a
    /// sensitive field name.
    KeyValue,
    /// Payment card numbers with a known issuer prefix that pass the Luhn check.
    CardNumber,
}

impl Pattern {
    /// The pattern's name in metrics (the `rule` label of
    /// `hardening_redactions_total`): `auth_scheme`, `jwt`,
    /// `aws_access_key_id`, `github_token`, `stripe_key`, `slack_token`,
    /// `private_key`, `url_userinfo`, `query_param`, `key_value`,
    /// `card_number`.
    pub const fn name(self) -> &'static str {
        match self {
            Pattern::AuthScheme => "auth_scheme",
            Pattern::Jwt => "jwt",
            Pattern::AwsAccessKeyId => "aws_access_key_id",
            Pattern::GitHubToken => "github_token",
            Pattern::StripeKey => "stripe_key",
            Pattern::SlackToken => "slack_token",
            Pattern::PrivateKey => "private_key",
            Pattern::UrlUserinfo => "url_userinfo",
            Pattern::QueryParam => "query_param",
            Pattern::KeyValue => "key_value",
            Pattern::CardNumber => "card_number",
        }
    }

    /// Every built-in pattern.
    pub const ALL: [Pattern; 11] = [
        Pattern::AuthScheme,
        Pattern::Jwt,
        Pattern::AwsAccessKeyId,
        Pattern::GitHubToken,
        Pattern::StripeKey,
        Pattern::SlackToken,
        Pattern::PrivateKey,
        Pattern::UrlUserinfo,
        Pattern::QueryParam,
        Pattern::KeyValue,
        Pattern::CardNumber,
    ];
}
