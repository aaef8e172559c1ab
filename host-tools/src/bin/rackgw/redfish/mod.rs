//! Redfish (DMTF DSP0266) over HTTPS, or plain HTTP for tests: the CDU as a `CoolingUnit`
//! under `ThermalEquipment/CDUs`, the racks as `Chassis` with a power-limit `Control`, their
//! power shelves under `PowerEquipment`, alarms as events (Server-Sent Events) with the
//! Environmental registry's ids.
//!
//! Accounts are the device keys: the user name is a key's id, the password its secret (hex),
//! and a write (PATCH) is signed with that key, so the device itself checks the key's role.
//! Only the service root, the `OData` documents and the schemas are readable without
//! authentication; a session (`X-Auth-Token`) or Basic authentication opens the rest.

mod events;
pub mod tree;

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rack_protocol::Message;
use rack_protocol::auth::Key;
use rack_protocol::message::SetSetpoint;
use rack_protocol::types::{KeyRole, SetpointId};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::model::{Row, snapshot};
use crate::poll::Write;
use tree::{Nameplate, ROOT, SESSION_TIMEOUT_S, View};

pub use events::watch as watch_alarms;

mod schemas {
    include!(concat!(env!("OUT_DIR"), "/redfish_schemas.rs"));
}

/// An account: a device key and its role.
#[derive(Debug, Clone)]
pub struct Account {
    /// The key (its id is the user name).
    pub key: Key,
    /// What the key may do on the devices.
    pub role: KeyRole,
}

struct Session {
    id: String,
    token: String,
    account: usize,
    last_used: Instant,
}

/// Sessions open at once, at most.
const MAX_SESSIONS: usize = 64;

/// The Redfish service over the row.
pub struct Service {
    row: Row,
    writes: Vec<Sender<Write>>,
    accounts: Vec<Account>,
    sessions: Mutex<Vec<Session>>,
    next_session: Mutex<u64>,
    events: tokio::sync::broadcast::Sender<String>,
    nameplate: Nameplate,
    uuid: String,
}

impl Service {
    /// The service; `events` carries the alarm events to SSE clients.
    pub fn new(
        row: Row,
        writes: Vec<Sender<Write>>,
        accounts: Vec<Account>,
        nameplate: Nameplate,
        events: tokio::sync::broadcast::Sender<String>,
    ) -> Self {
        Self {
            uuid: uuid(&row),
            row,
            writes,
            accounts,
            sessions: Mutex::new(Vec::new()),
            next_session: Mutex::new(0),
            events,
            nameplate,
        }
    }
}

/// The service's UUID: stable for a row (derived from the devices' addresses), in UUID form.
fn uuid(row: &Row) -> String {
    let names: String = snapshot(row)
        .iter()
        .map(|d| format!("{}={};", d.name, d.target))
        .collect();
    // FNV-1a, twice with different offsets, for 128 bits: an identifier, not a secret.
    let fnv = |offset: u64| {
        names.bytes().fold(offset, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let (a, b) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// A Redfish error body, with the Base registry's message id.
fn error(status: StatusCode, id: &str, message: &str) -> Response {
    let body = json!({ "error": {
        "code": format!("Base.1.19.0.{id}"),
        "message": message,
        "@Message.ExtendedInfo": [{
            "@odata.type": "#Message.v1_3_0.Message",
            "MessageId": format!("Base.1.19.0.{id}"),
            "Message": message,
            "MessageSeverity": if status.is_server_error() { "Critical" } else { "Warning" },
        }],
    }});
    let mut r = (status, json_body(&body)).into_response();
    common_headers(r.headers_mut());
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"rackgw\""),
        );
    }
    r
}

fn json_body(v: &Value) -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        v.to_string(),
    )
}

fn common_headers(h: &mut HeaderMap) {
    h.insert("OData-Version", HeaderValue::from_static("4.0"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

fn ok(v: &Value, allow: &'static str) -> Response {
    let mut r = json_body(v).into_response();
    common_headers(r.headers_mut());
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// The `$metadata` document: every served schema, by a local URI.
fn metadata() -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\n",
    );
    for (file, namespaces, _) in schemas::SCHEMAS {
        x.push_str(&format!(
            "  <edmx:Reference Uri=\"/redfish/v1/Schemas/{file}\">\n"
        ));
        for ns in *namespaces {
            x.push_str(&format!("    <edmx:Include Namespace=\"{ns}\"/>\n"));
        }
        x.push_str("  </edmx:Reference>\n");
    }
    x.push_str(
        "  <edmx:DataServices>\n\
         \x20   <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" Namespace=\"Service\">\n\
         \x20     <EntityContainer Name=\"Service\" Extends=\"ServiceRoot.v1_21_0.ServiceContainer\"/>\n\
         \x20   </Schema>\n\
         \x20 </edmx:DataServices>\n\
         </edmx:Edmx>\n",
    );
    x
}

fn xml(text: String) -> Response {
    let mut r = (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        text,
    )
        .into_response();
    common_headers(r.headers_mut());
    r
}

fn odata_document() -> Value {
    let top = [
        ("Service", "/redfish/v1/"),
        ("Chassis", "/redfish/v1/Chassis"),
        ("ThermalEquipment", "/redfish/v1/ThermalEquipment"),
        ("PowerEquipment", "/redfish/v1/PowerEquipment"),
        ("SessionService", "/redfish/v1/SessionService"),
        ("EventService", "/redfish/v1/EventService"),
    ];
    json!({
        "@odata.context": "/redfish/v1/$metadata",
        "value": top.iter().map(|(name, url)| json!({
            "name": name, "kind": "Singleton", "url": url,
        })).collect::<Vec<_>>(),
    })
}

/// Who a request comes from.
struct Caller {
    account: usize,
}

impl Service {
    fn account_for(&self, user: &str, password: &str) -> Option<usize> {
        let id: u16 = user.parse().ok()?;
        let secret = hex_bytes(password)?;
        self.accounts.iter().position(|a| {
            a.key.id == id && bool::from(a.key.secret.as_slice().ct_eq(secret.as_slice()))
        })
    }

    fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        if let Some(token) = headers.get("X-Auth-Token").and_then(|t| t.to_str().ok()) {
            let mut sessions = self.sessions.lock().ok()?;
            let timeout = Duration::from_secs(SESSION_TIMEOUT_S);
            sessions.retain(|s| s.last_used.elapsed() < timeout);
            let s = sessions
                .iter_mut()
                .find(|s| bool::from(s.token.as_bytes().ct_eq(token.as_bytes())))?;
            s.last_used = Instant::now();
            return Some(Caller { account: s.account });
        }
        let basic = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Basic ")?;
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some(Caller {
            account: self.account_for(user, password)?,
        })
    }

    fn sessions_view(&self) -> Vec<(String, String)> {
        self.sessions
            .lock()
            .map(|s| {
                s.iter()
                    .map(|s| {
                        let user = self
                            .accounts
                            .get(s.account)
                            .map_or_else(String::new, |a| a.key.id.to_string());
                        (s.id.clone(), user)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn get(&self, path: &str) -> Option<Value> {
        let devices = snapshot(&self.row);
        let sessions = self.sessions_view();
        tree::get(
            path,
            &View {
                devices: &devices,
                sessions: &sessions,
                nameplate: &self.nameplate,
                uuid: &self.uuid,
            },
        )
    }

    fn login(&self, body: &[u8]) -> Response {
        let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "MalformedJSON",
                "the body must be a JSON object with UserName and Password",
            );
        };
        let (Some(user), Some(password)) = (
            b.get("UserName").and_then(Value::as_str),
            b.get("Password").and_then(Value::as_str),
        ) else {
            return error(
                StatusCode::BAD_REQUEST,
                "PropertyMissing",
                "UserName and Password are both required",
            );
        };
        let Some(account) = self.account_for(user, password) else {
            return error(
                StatusCode::UNAUTHORIZED,
                "InvalidCredentials",
                "the user name (a key's id) or the password (its secret, hex) is wrong",
            );
        };
        let Ok(mut sessions) = self.sessions.lock() else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "GeneralError",
                "poisoned",
            );
        };
        let timeout = Duration::from_secs(SESSION_TIMEOUT_S);
        sessions.retain(|s| s.last_used.elapsed() < timeout);
        if sessions.len() >= MAX_SESSIONS {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SessionLimitExceeded",
                &format!("{MAX_SESSIONS} sessions are open; log out of one first"),
            );
        }
        let mut token = [0u8; 32];
        if getrandom::fill(&mut token).is_err() {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "GeneralError",
                "no randomness for a session token",
            );
        }
        let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
        let id = {
            let mut n = self
                .next_session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *n += 1;
            n.to_string()
        };
        sessions.push(Session {
            id: id.clone(),
            token: token.clone(),
            account,
            last_used: Instant::now(),
        });
        drop(sessions);
        let location = format!("/redfish/v1/SessionService/Sessions/{id}");
        let body = self.get(&location).unwrap_or(Value::Null);
        let mut r = (StatusCode::CREATED, json_body(&body)).into_response();
        common_headers(r.headers_mut());
        if let (Ok(t), Ok(l)) = (
            HeaderValue::from_str(&token),
            HeaderValue::from_str(&location),
        ) {
            r.headers_mut().insert("X-Auth-Token", t);
            r.headers_mut().insert(header::LOCATION, l);
        }
        r
    }

    fn logout(&self, caller: &Caller, id: &str) -> Response {
        let Ok(mut sessions) = self.sessions.lock() else {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "GeneralError",
                "poisoned",
            );
        };
        let Some(at) = sessions.iter().position(|s| s.id == id) else {
            return error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                &format!("no session {id}"),
            );
        };
        let own = sessions
            .get(at)
            .is_some_and(|s| s.account == caller.account);
        let maintenance = self
            .accounts
            .get(caller.account)
            .is_some_and(|a| a.role >= KeyRole::Maintenance);
        if !own && !maintenance {
            return error(
                StatusCode::FORBIDDEN,
                "InsufficientPrivilege",
                "only its own user or a maintenance key may end another's session",
            );
        }
        sessions.remove(at);
        let mut r = StatusCode::NO_CONTENT.into_response();
        common_headers(r.headers_mut());
        r
    }

    /// A PATCH: the supply temperature setpoint or a rack's power limit, signed with the
    /// caller's key.
    async fn patch(&self, caller: &Caller, path: &str, body: &[u8]) -> Response {
        let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "MalformedJSON",
                "the body must be a JSON object",
            );
        };
        let devices = snapshot(&self.row);
        let segs: Vec<&str> = path
            .strip_prefix(ROOT)
            .unwrap_or_default()
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        // (device index, setpoint, the property path, scale to the device's unit)
        let (index, id, property, scale) = match segs.as_slice() {
            [
                "ThermalEquipment",
                "CDUs",
                cdu,
                "SecondaryCoolantConnectors",
                "1",
            ] => {
                let Some(i) = devices.iter().position(|d| d.is_cdu() && d.name == *cdu) else {
                    return not_found(path);
                };
                (
                    i,
                    SetpointId::SupplyTempCentiC,
                    "SupplyTemperatureControlCelsius/SetPoint",
                    100.0,
                )
            }
            ["Chassis", rack, "Controls", "PowerLimit"] => {
                let Some(i) = devices.iter().position(|d| !d.is_cdu() && d.name == *rack) else {
                    return not_found(path);
                };
                (i, SetpointId::RackPowerBudgetW, "SetPoint", 1.0)
            }
            _ => {
                return if self.get(path).is_some() {
                    error(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "OperationNotAllowed",
                        &format!("{path} is read-only"),
                    )
                } else {
                    not_found(path)
                };
            }
        };
        // Exactly the one writable property, nothing else.
        let value = match property.split_once('/') {
            Some((outer, inner)) => {
                let extra: Vec<&String> = b.keys().filter(|k| *k != outer).collect();
                if let Some(k) = extra.first() {
                    return not_writable(k, property);
                }
                let Some(Value::Object(o)) = b.get(outer) else {
                    return not_writable(outer, property);
                };
                if let Some(k) = o.keys().find(|k| *k != inner) {
                    return not_writable(&format!("{outer}/{k}"), property);
                }
                o.get(inner)
            }
            None => {
                if let Some(k) = b.keys().find(|k| *k != property) {
                    return not_writable(k, property);
                }
                b.get(property)
            }
        };
        let Some(value) = value.and_then(Value::as_f64) else {
            return error(
                StatusCode::BAD_REQUEST,
                "PropertyValueTypeError",
                &format!("{property} must be a number"),
            );
        };
        let Some(account) = self.accounts.get(caller.account) else {
            return error(StatusCode::UNAUTHORIZED, "NoValidSession", "no account");
        };
        if account.role < KeyRole::Operator {
            return error(
                StatusCode::FORBIDDEN,
                "InsufficientPrivilege",
                &format!(
                    "key {} is a {} key; setpoints need an operator or maintenance key",
                    account.key.id,
                    account.role.name()
                ),
            );
        }
        let Some(d) = devices.get(index) else {
            return not_found(path);
        };
        if !d.link_up {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceTemporarilyUnavailable",
                &format!("{}: no link to the device; nothing was written", d.name),
            );
        }
        let scaled = (value * scale).round();
        if let Some(s) = d.setpoints.iter().find(|s| s.id == id)
            && !(f64::from(s.min)..=f64::from(s.max)).contains(&scaled)
        {
            return error(
                StatusCode::BAD_REQUEST,
                "PropertyValueOutOfRange",
                &format!(
                    "{property} {value} is outside {}..={}",
                    f64::from(s.min) / scale,
                    f64::from(s.max) / scale
                ),
            );
        }
        #[allow(clippy::cast_possible_truncation)] // within the setpoint's i32 range, checked
        let request = Message::SetSetpoint(SetSetpoint {
            id,
            value: scaled as i32,
        });
        let Some(writes) = self.writes.get(index) else {
            return not_found(path);
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        if writes
            .send(Write {
                request,
                key: Some(account.key.clone()),
                answer: tx,
            })
            .is_err()
        {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceTemporarilyUnavailable",
                "the device's poller has stopped",
            );
        }
        match rx.await {
            Ok(Ok(Message::Setpoint(_))) => match self.get(path) {
                Some(v) => ok(&v, "GET, HEAD, PATCH"),
                None => not_found(path),
            },
            Ok(Ok(Message::Refused(r))) => error(
                StatusCode::BAD_REQUEST,
                "ActionParameterNotSupported",
                &format!("{} refused the write: {:?}", d.name, r.reason),
            ),
            Ok(Ok(other)) => error(
                StatusCode::BAD_GATEWAY,
                "GeneralError",
                &format!("{} answered {:?}", d.name, other.kind()),
            ),
            Ok(Err(e)) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceTemporarilyUnavailable",
                &format!("{}: {e}; the write may not have been carried out", d.name),
            ),
            Err(_) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceTemporarilyUnavailable",
                &format!(
                    "{}: no answer; the write may not have been carried out",
                    d.name
                ),
            ),
        }
    }
}

fn not_found(path: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("there is no resource at {path}"),
    )
}

fn not_writable(given: &str, writable: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "PropertyNotWritable",
        &format!("{given} cannot be written here; the one writable property is {writable}"),
    )
}

/// `"0a1B..."` -> bytes, or None if it is not an even number of hex digits.
fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Every request: routed by path and method, authenticated where Redfish asks.
pub async fn handle(
    axum::extract::State(svc): axum::extract::State<Arc<Service>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = uri.path();
    let path = if raw.len() > 1 {
        raw.trim_end_matches('/')
    } else {
        raw
    };
    let read = method == Method::GET || method == Method::HEAD;
    // What anyone may read.
    match path {
        "/redfish" if read => return ok(&json!({ "v1": "/redfish/v1/" }), "GET, HEAD"),
        ROOT if read => {
            return svc
                .get(ROOT)
                .map_or_else(|| not_found(path), |v| ok(&v, "GET, HEAD"));
        }
        "/redfish/v1/odata" if read => return ok(&odata_document(), "GET, HEAD"),
        "/redfish/v1/$metadata" if read => return xml(metadata()),
        "/redfish/v1/SessionService/Sessions" if method == Method::POST => {
            return svc.login(&body);
        }
        _ => {}
    }
    if let Some(file) = path.strip_prefix("/redfish/v1/Schemas/")
        && read
    {
        return schemas::SCHEMAS
            .iter()
            .find(|(f, _, _)| *f == file)
            .map_or_else(|| not_found(path), |(_, _, text)| xml((*text).to_owned()));
    }
    if !path.starts_with(ROOT) {
        return not_found(path);
    }
    let Some(caller) = svc.caller(&headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "NoValidSession",
            "log in: a session (POST /redfish/v1/SessionService/Sessions) or Basic \
             authentication, with a key's id as the user name and its secret as the password",
        );
    };
    if read && path == tree::SSE {
        return events::stream(&svc.events).await;
    }
    match method {
        Method::GET | Method::HEAD => svc.get(path).map_or_else(
            || not_found(path),
            |v| {
                let patchable = path.ends_with("/SecondaryCoolantConnectors/1")
                    || path.ends_with("/Controls/PowerLimit");
                ok(
                    &v,
                    if patchable {
                        "GET, HEAD, PATCH"
                    } else {
                        "GET, HEAD"
                    },
                )
            },
        ),
        Method::PATCH => svc.patch(&caller, path, &body).await,
        Method::DELETE => match path.strip_prefix("/redfish/v1/SessionService/Sessions/") {
            Some(id) => svc.logout(&caller, id),
            None => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "OperationNotAllowed",
                "only a session can be deleted",
            ),
        },
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "OperationNotAllowed",
            &format!("{method} is not allowed on {path}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_password_is_the_secret_in_hex_of_either_case() {
        assert_eq!(hex_bytes("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(hex_bytes("0aF"), None);
        assert_eq!(hex_bytes("zz"), None);
    }

    #[test]
    fn metadata_references_every_served_schema_locally() {
        let m = metadata();
        assert!(schemas::SCHEMAS.len() > 100);
        for (file, namespaces, text) in schemas::SCHEMAS {
            assert!(m.contains(&format!("Uri=\"/redfish/v1/Schemas/{file}\"")));
            assert!(text.contains("edmx:Edmx"));
            assert!(!namespaces.is_empty(), "{file}");
        }
        for needed in [
            "CoolingUnit_v1.xml",
            "CoolantConnector_v1.xml",
            "Resource_v1.xml",
        ] {
            assert!(
                schemas::SCHEMAS.iter().any(|(f, _, _)| *f == needed),
                "{needed}"
            );
        }
        assert!(m.contains("Extends=\"ServiceRoot.v1_21_0.ServiceContainer\""));
    }
}
