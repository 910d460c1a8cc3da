//! The Microsoft Graph-compatible admin API, served under `/beta` and `/v1.0`, so that existing Autopilot
//! tooling (Graph SDKs, `Get-WindowsAutopilotInfo -Online`, `WindowsAutopilotIntune`) works against ztd
//! unchanged. Documented in `docs/graph-api.md`.
//!
//! Every request goes through [`normalize_path`] before routing: Graph segments are case-insensitive, take an
//! optional `microsoft.graph.` prefix on actions and casts, and keys may be written `coll('id')`; axum matches
//! exactly, so the path is rewritten to the canonical spelling first. JSON is built by hand in this module
//! tree (Graph names, `@odata.*` annotations); `ztd-core` stays free of Graph naming.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::{Access, Caller};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use ztd_core::error::Code;

mod audit_events;
mod autopilot_events;
mod autopilot_settings;
mod batch;
pub mod body;
mod corporate_identifiers;
mod device_policies;
mod devices;
mod directory_devices;
mod esp;
mod groups;
mod imports;
mod managed_devices;
mod member_checks;
mod organization;
pub use imports::{MAX_IMPORT, MAX_IMPORT_BODY};
pub use ztd_odata as odata;
mod paging;
mod profiles;
mod scope;
mod throttle;
mod users;
pub use batch::MAX_BATCH_REQUESTS;
pub use throttle::ThrottleConfig;

use odata::QueryOptions;

/// Graph API settings that deployments (and tests) tune.
#[derive(Clone, Debug)]
pub struct GraphConfig {
    /// A manual `windowsAutopilotSettings/sync` within this long of the previous one is refused with 429
    /// (the service's documented 10 minutes).
    pub sync_throttle: Duration,
    /// How long a sync reports `inProgress` (and refuses another with 409).
    pub sync_duration: Duration,
    /// The externally visible base URL (`https://graph.contoso.example`), used in `@odata.nextLink` and
    /// `@odata.context`. `None`: taken from the request's `Host` (and `X-Forwarded-Proto`).
    pub public_base_url: Option<String>,
    /// Whether the server terminates TLS itself (the scheme of links built from `Host`).
    pub https: bool,
    /// The per-tenant and per-app request budgets (429 with `Retry-After` beyond them).
    pub throttle: ThrottleConfig,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            sync_throttle: Duration::from_secs(600),
            sync_duration: Duration::from_secs(5),
            public_base_url: None,
            https: false,
            throttle: ThrottleConfig::default(),
        }
    }
}

/// The Graph version a request was made under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Beta,
    V1,
}

impl Version {
    pub fn segment(self) -> &'static str {
        match self {
            Version::Beta => "beta",
            Version::V1 => "v1.0",
        }
    }

    pub fn is_beta(self) -> bool {
        self == Version::Beta
    }
}

/// What every Graph handler needs besides its caller: the version, the base URL for links, the request
/// path and the parsed query options.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub version: Version,
    /// `{scheme}://{host}/{version}`.
    pub base: String,
    /// The canonical request path below the version (`/deviceManagement/...`).
    pub path: String,
    pub query: QueryOptions,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let version = parts
            .extensions
            .get::<Version>()
            .copied()
            .unwrap_or(Version::Beta);
        let config = parts.extensions.get::<Arc<GraphConfig>>().cloned();
        let root = match config.as_ref().and_then(|c| c.public_base_url.clone()) {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let host = parts
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| parts.uri.authority().map(|a| a.as_str()))
                    .unwrap_or("localhost");
                let forwarded = parts
                    .headers
                    .get("x-forwarded-proto")
                    .and_then(|h| h.to_str().ok());
                let scheme = match forwarded {
                    Some(proto) => proto.to_string(),
                    None if config.as_ref().is_some_and(|c| c.https) => "https".into(),
                    None => "http".into(),
                };
                format!("{scheme}://{host}")
            }
        };
        let mut query = QueryOptions::parse(parts.uri.query())?;
        let path = parts.uri.path().to_string();
        if is_directory_path(&path) {
            let eventual = query.eventual
                || parts
                    .headers
                    .get("consistencylevel")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
            advanced_query(&path, &mut query, eventual)?;
        }
        Ok(Ctx {
            version,
            base: format!("{root}/{}", version.segment()),
            path,
            query,
        })
    }
}

/// Whether a path addresses Entra directory objects (whose advanced queries need eventual consistency).
fn is_directory_path(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    matches!(first, "devices" | "groups" | "users" | "directoryObjects")
}

/// Entra's advanced-query rule for directory objects: `/$count` and `$search` need `ConsistencyLevel:
/// eventual` (400 `Request_UnsupportedQuery` without it); `$count=true` without it is ignored, as Entra
/// ignores it.
fn advanced_query(path: &str, query: &mut QueryOptions, eventual: bool) -> ApiResult<()> {
    if eventual {
        return Ok(());
    }
    if path.ends_with("/$count") {
        return Err(ApiError::new(
            Code::UnsupportedQuery,
            "Raw count (/$count) is not supported because the 'ConsistencyLevel:eventual' header is missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
        ));
    }
    if query.search {
        return Err(ApiError::new(
            Code::UnsupportedQuery,
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ));
    }
    query.count = false;
    Ok(())
}

impl Ctx {
    /// `@odata.context` for a collection or an entity path (`deviceManagement/windowsAutopilotDeviceIdentities`).
    pub fn context(&self, fragment: &str) -> String {
        format!("{}/$metadata#{fragment}", self.base)
    }

    /// Rejects a call Graph serves only under `beta`.
    pub fn beta_only(&self) -> ApiResult<()> {
        if self.version.is_beta() {
            Ok(())
        } else {
            Err(ApiError::new(
                Code::SegmentNotFound,
                format!(
                    "Resource not found for the segment '{}' in v1.0; it is available under /beta.",
                    self.path.trim_start_matches('/')
                ),
            ))
        }
    }

    /// The page the query asks for of an in-memory collection, as a collection response.
    pub async fn page_of(&self, fragment: &str, rows: Vec<paging::Row<()>>) -> ApiResult<Response> {
        let page = paging::page(&self.query, &mut paging::VecSource::new(rows)).await?;
        let items: Vec<Value> = page.rows.into_iter().map(|r| r.json).collect();
        Ok(self.collection(fragment, items, page.next, page.count))
    }

    /// A collection response: `@odata.context`, optional `@odata.count`, `value`, optional `@odata.nextLink`.
    /// Items are written straight from their `Serialize` form, `$select` applied as they are written
    /// (through a `Value` only when an `$expand` carries options of its own).
    pub fn collection<T: Serialize>(
        &self,
        fragment: &str,
        items: Vec<T>,
        next: Option<odata::SkipToken>,
        count: Option<usize>,
    ) -> Response {
        #[derive(Serialize)]
        struct CollectionBody<'a, T: Serialize> {
            #[serde(rename = "@odata.context")]
            context: String,
            #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
            count: Option<usize>,
            value: Projected<'a, T>,
            #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
            next_link: Option<String>,
        }
        let body = CollectionBody {
            context: self.context(fragment),
            count,
            value: Projected {
                items: &items,
                query: &self.query,
            },
            next_link: next.map(|token| {
                format!(
                    "{}{}?{}",
                    self.base,
                    self.path,
                    self.query.next_query(&token)
                )
            }),
        };
        // About 1 KB an item (a device is 0.8 KB).
        let capacity = 1024 + body.value.items.len() * 1024;
        json_response_sized(StatusCode::OK, &body, capacity)
    }

    /// A single entity with `@odata.context` `…#fragment/$entity` first.
    pub fn entity(&self, status: StatusCode, fragment: &str, item: Value) -> Response {
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            Value::String(self.context(&format!("{fragment}/$entity"))),
        );
        if let Value::Object(map) = self.query.project(item) {
            body.extend(map);
        }
        json_response(status, &Value::Object(body))
    }
}

/// A timestamp as Graph writes it (RFC 3339); "never" is `0001-01-01T00:00:00Z`.
pub struct DateTime(pub Option<ztd_core::Timestamp>);

impl Serialize for DateTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.unwrap_or(ztd_core::Timestamp::NEVER))
    }
}

/// An id as text, or `""` when there is none.
pub struct IdOrEmpty<T>(pub Option<T>);

impl<T: std::fmt::Display> Serialize for IdOrEmpty<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(id) => serializer.collect_str(id),
            None => serializer.serialize_str(""),
        }
    }
}

/// Items of a collection with `$select` applied.
struct Projected<'a, T> {
    items: &'a [T],
    query: &'a QueryOptions,
}

impl<T: Serialize> Serialize for Projected<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.query.selects_everything() {
            serializer.collect_seq(self.items)
        } else if self.query.selects_top_level_only() {
            serializer.collect_seq(self.items.iter().map(|item| ztd_odata::Selected {
                item,
                options: self.query,
            }))
        } else {
            serializer.collect_seq(self.items.iter().map(|item| {
                let value = serde_json::to_value(item).unwrap_or(Value::Null);
                self.query.project(value)
            }))
        }
    }
}

/// `application/json` with Graph's OData parameters.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    json_response_sized(status, body, 1024)
}

/// [`json_response`] into a buffer of `capacity` bytes to start with: a page of 100 devices is about
/// 80 KB, and growing a buffer from nothing copies it a dozen times.
fn json_response_sized(status: StatusCode, body: &impl Serialize, capacity: usize) -> Response {
    // Serialising our own response types cannot fail; an empty object would be the visible symptom.
    let mut bytes = Vec::with_capacity(capacity);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes = b"{}".to_vec();
    }
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
        ),
    );
    response
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Permission families, as Graph names them.
pub const SERVICE_CONFIG: &str = "DeviceManagementServiceConfig";
pub const DEVICE: &str = "Device";
pub const GROUP: &str = "Group";
pub const GROUP_MEMBER: &str = "GroupMember";
pub const DIRECTORY: &str = "Directory";

/// Requires one of several permission families (Graph accepts, for example, `Group.ReadWrite.All` or
/// `Directory.ReadWrite.All` for groups); the 403 names the first.
pub fn require_any(caller: &Caller, families: &[&str], access: Access) -> ApiResult<()> {
    let mut first = None;
    for family in families {
        match caller.require(family, access) {
            Ok(()) => return Ok(()),
            Err(err) => {
                first.get_or_insert(err);
            }
        }
    }
    Err(first.unwrap_or_else(|| {
        ApiError::forbidden("Insufficient privileges to complete the operation.")
    }))
}

/// A JSON request body, parsed leniently (see [`body::parse_relaxed`]); 400 in Graph's shape otherwise.
pub struct GraphBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for GraphBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::body_rejected(
                e.status(),
                format!("The request body could not be read: {}", e.body_text()),
            )
        })?;
        body::parse_relaxed(&bytes).map(GraphBody)
    }
}

/// The canonical spelling of every segment the Graph router knows, for case-insensitive matching.
const SEGMENTS: &[&str] = &[
    "deviceManagement",
    "auditEvents",
    "getAuditCategories",
    "getAuditActivityTypes",
    "windowsAutopilotDeviceIdentities",
    "importedWindowsAutopilotDeviceIdentities",
    "windowsAutopilotDeploymentProfiles",
    "windowsAutopilotSettings",
    "deviceEnrollmentConfigurations",
    "importedDeviceIdentities",
    "autopilotEvents",
    "devices",
    "groups",
    "organization",
    "members",
    "transitiveMembers",
    "memberOf",
    "transitiveMemberOf",
    "assignments",
    "assignedDevices",
    "deploymentProfile",
    "intendedDeploymentProfile",
    "device",
    "$ref",
    "$count",
    "assignUserToDevice",
    "unassignUserFromDevice",
    "updateDeviceProperties",
    "allowNextEnrollment",
    "deleteDevices",
    "assignResourceAccountToDevice",
    "unassignResourceAccountFromDevice",
    "import",
    "assign",
    "sync",
    "setPriority",
    "importDeviceIdentityList",
    "searchExistingIdentities",
    "hasPayloadLinks",
    "directoryObjects",
    "checkMemberGroups",
    "checkMemberObjects",
    "getMemberGroups",
    "getMemberObjects",
    "roleScopeTags",
    "assignmentFilters",
    "validateFilter",
];

fn canonical_segment(segment: &str) -> String {
    let decoded = segment
        .replace("%24", "$")
        .replace("%27", "'")
        .replace("%28", "(")
        .replace("%29", ")")
        .replace("%3D", "=")
        .replace("%3d", "=");
    let stripped = if decoded.len() > 16 && decoded[..16].eq_ignore_ascii_case("microsoft.graph.") {
        &decoded[16..]
    } else {
        decoded.as_str()
    };
    match SEGMENTS.iter().find(|s| s.eq_ignore_ascii_case(stripped)) {
        Some(canonical) => (*canonical).to_string(),
        None => stripped.to_string(),
    }
}

/// Rewrites a Graph path to the spelling the router matches: canonical segment case, no `microsoft.graph.`
/// prefix, `coll('id')` → `coll/id`, `devices(deviceId='x')` → `devices/deviceId=x`.
pub fn normalize_path(path: &str) -> String {
    let mut out = Vec::new();
    // `coll/?$filter=...` (WindowsAutopilotIntune) addresses the collection.
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    for segment in path.split('/') {
        let decoded = segment
            .replace("%27", "'")
            .replace("%28", "(")
            .replace("%29", ")");
        if let (Some(open), true) = (decoded.find('('), decoded.ends_with(')')) {
            let name = &decoded[..open];
            let key = &decoded[open + 1..decoded.len() - 1];
            if !name.is_empty() {
                out.push(canonical_segment(name));
                let key = match key.split_once('=') {
                    Some((alt, value)) => {
                        format!("{}={}", alt.trim(), value.trim().trim_matches('\''))
                    }
                    None => key.trim().trim_matches('\'').to_string(),
                };
                out.push(key);
                continue;
            }
        }
        out.push(canonical_segment(segment));
    }
    out.join("/")
}

async fn normalize(mut request: Request, next: Next) -> Response {
    let path = normalize_path(request.uri().path());
    if path != request.uri().path() {
        let rebuilt = match request.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    // `request-id` and `client-request-id` are set for every route by `request::identify`.
    next.run(request).await
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        Code::SegmentNotFound,
        format!(
            "Resource not found for the segment '{}'.",
            uri.path().trim_start_matches('/')
        ),
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        "The HTTP method is not allowed on this resource.",
    )
}

/// The Graph routes of one version, with state applied, ready to be nested under `/beta` or `/v1.0`.
fn version_router(
    state: AppState,
    version: Version,
    config: Arc<GraphConfig>,
    throttle: Arc<throttle::Throttle>,
) -> Router {
    let routes = Router::new()
        .merge(devices::routes())
        .merge(imports::routes())
        .merge(profiles::routes())
        .merge(esp::routes())
        .merge(autopilot_settings::routes())
        .merge(corporate_identifiers::routes())
        .merge(autopilot_events::routes())
        .merge(audit_events::routes())
        .merge(directory_devices::routes())
        .merge(groups::routes())
        .merge(organization::routes())
        .merge(users::routes())
        .merge(member_checks::routes())
        .merge(managed_devices::routes())
        .merge(device_policies::routes())
        .merge(scope::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            (state.clone(), throttle),
            throttle::throttle,
        ))
        .layer(axum::Extension(version))
        .layer(axum::Extension(config))
        .with_state(state);
    // Normalisation must run before routing, so it wraps the routed service rather than being a route layer.
    Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn(normalize))
            .service(routes),
    )
}

/// `/beta/...` and `/v1.0/...`, merged into the top-level router, with `$batch` under each.
pub fn routes(state: AppState, config: Arc<GraphConfig>) -> Router<AppState> {
    let throttle = Arc::new(throttle::Throttle::new(&config.throttle));
    let versions: Router<AppState> = Router::new()
        .nest_service(
            "/beta",
            version_router(
                state.clone(),
                Version::Beta,
                config.clone(),
                throttle.clone(),
            ),
        )
        .nest_service(
            "/v1.0",
            version_router(state.clone(), Version::V1, config, throttle.clone()),
        );
    // A batch's requests go through the request identity middleware as requests sent alone do.
    let dispatch = batch::Dispatch(
        versions
            .clone()
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::request::identify,
            ))
            .with_state(state),
    );
    let mut router = versions;
    for version in [Version::Beta, Version::V1] {
        for spelling in ["$batch", "%24batch"] {
            let handler = axum::routing::post(batch::batch)
                .fallback(method_not_allowed)
                .layer::<_, std::convert::Infallible>(axum::Extension(version))
                .layer::<_, std::convert::Infallible>(axum::Extension(dispatch.clone()))
                .layer::<_, std::convert::Infallible>(axum::Extension(throttle.clone()));
            router = router.route(&format!("/{}/{spelling}", version.segment()), handler);
        }
    }
    router
}

/// `/$count`: a number as `text/plain`, as Graph answers it.
pub fn count_response(n: usize) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        n.to_string(),
    )
        .into_response()
}

/// An empty body, for 202/204 responses that need headers.
pub fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}
