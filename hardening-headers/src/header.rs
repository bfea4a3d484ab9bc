//! Names of the headers this crate sends or removes that the `http` crate
//! has no constant for. (The others are in [`http::header`].)

use http::HeaderName;

/// `Permissions-Policy`
pub const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");
/// `Cross-Origin-Opener-Policy`
pub const CROSS_ORIGIN_OPENER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-opener-policy");
/// `Cross-Origin-Resource-Policy`
pub const CROSS_ORIGIN_RESOURCE_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-resource-policy");
/// `Cross-Origin-Embedder-Policy`
pub const CROSS_ORIGIN_EMBEDDER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-embedder-policy");
/// `Origin-Agent-Cluster`
pub const ORIGIN_AGENT_CLUSTER: HeaderName = HeaderName::from_static("origin-agent-cluster");
/// `X-Permitted-Cross-Domain-Policies`
pub const X_PERMITTED_CROSS_DOMAIN_POLICIES: HeaderName =
    HeaderName::from_static("x-permitted-cross-domain-policies");
/// `X-Download-Options`
pub const X_DOWNLOAD_OPTIONS: HeaderName = HeaderName::from_static("x-download-options");
/// `X-Powered-By` (removed from responses)
pub const X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");
/// `Reporting-Endpoints`
pub const REPORTING_ENDPOINTS: HeaderName = HeaderName::from_static("reporting-endpoints");
