//! The Redfish resources: the row's live model as DMTF's schemas shape it. Each GET builds its
//! resource from a snapshot of the model; a device whose link is down shows
//! `Status.State = UnavailableOffline` and no readings, never stale values as live.

use rack_protocol::Message;
use rack_protocol::message::{CoolantTelemetry, PowerTelemetry};
use rack_protocol::types::{
    AlarmCode, BbuState, ControllerState, LeakState, OperatingMode, PsuState, PumpState,
    SetpointId, Severity,
};
use serde_json::{Map, Value, json};

use crate::model::Device;

/// What the gateway is told of the CDU that its telemetry does not carry: the nameplate.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nameplate {
    /// Pump speed at 100 %, rpm.
    pub pump_rated_rpm: f64,
    /// Reservoir volume, L.
    pub reservoir_liters: f64,
    /// Secondary (row) design flow, L/min.
    pub rated_flow_lpm: f64,
    /// Heat the CDU is rated to remove, W.
    pub cooling_capacity_w: i64,
    /// The secondary coolant's density, kg/m3 (PG25: 1020).
    pub coolant_density_kg_per_m3: f64,
    /// The secondary coolant's specific heat, kJ/(kg K) (PG25: 3.9).
    pub coolant_specific_heat_kj_per_kg_k: f64,
}

impl Default for Nameplate {
    /// The default row's CDU (the controller's commissioning defaults, `DOMAIN.md`).
    fn default() -> Self {
        Self {
            pump_rated_rpm: 3_600.0,
            reservoir_liters: 80.0,
            rated_flow_lpm: 1_303.0,
            cooling_capacity_w: 1_000_000,
            coolant_density_kg_per_m3: 1_020.0,
            coolant_specific_heat_kj_per_kg_k: 3.9,
        }
    }
}

/// The Environmental registry's version the alarm events use.
pub const ENVIRONMENTAL: &str = "Environmental.1.3.0";
/// The `ResourceEvent` registry's version, for alarms the Environmental registry has no id for.
pub const RESOURCE_EVENT: &str = "ResourceEvent.1.3.0";

pub const ROOT: &str = "/redfish/v1";
const CDUS: &str = "/redfish/v1/ThermalEquipment/CDUs";
const SHELVES: &str = "/redfish/v1/PowerEquipment/PowerShelves";
const CHASSIS: &str = "/redfish/v1/Chassis";

/// What a GET may show besides the row: the open sessions (id, user name).
pub struct View<'a> {
    pub devices: &'a [Device],
    pub sessions: &'a [(String, String)],
    pub nameplate: &'a Nameplate,
    pub uuid: &'a str,
}

fn odata(id: &str, kind: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("@odata.id".into(), Value::String(id.to_owned()));
    m.insert("@odata.type".into(), Value::String(format!("#{kind}")));
    m
}

fn link(id: &str) -> Value {
    json!({ "@odata.id": id })
}

fn collection(id: &str, kind: &str, name: &str, members: &[String]) -> Value {
    let mut m = odata(id, &format!("{kind}Collection.{kind}Collection"));
    m.insert("Name".into(), name.into());
    m.insert(
        "Members".into(),
        members.iter().map(|x| link(&format!("{id}/{x}"))).collect(),
    );
    m.insert("Members@odata.count".into(), members.len().into());
    Value::Object(m)
}

fn resource(id: &str, kind: &str, rid: &str, name: &str) -> Map<String, Value> {
    let mut m = odata(id, kind);
    m.insert("Id".into(), rid.into());
    m.insert("Name".into(), name.into());
    m
}

/// `Status` from a device's link and alarms: the link down is `UnavailableOffline`.
fn status(d: &Device, alarms: &[AlarmCode], instance: Option<u8>) -> Value {
    if !d.link_up {
        return offline();
    }
    let mut health = "OK";
    for a in d
        .alarms
        .iter()
        .filter(|a| a.active && alarms.contains(&a.code))
    {
        if instance.is_some_and(|i| i != a.instance) {
            continue;
        }
        match a.severity {
            Severity::Critical => health = "Critical",
            Severity::Warning if health == "OK" => health = "Warning",
            Severity::Warning => {}
        }
    }
    json!({ "State": "Enabled", "Health": health })
}

/// The status of what cannot be read now: the link to its device is down.
fn offline() -> Value {
    json!({ "State": "UnavailableOffline", "Health": "Critical" })
}

/// A part's place: its label and its ordinal in a bay.
fn bay(label: &str, ordinal: usize) -> Value {
    json!({ "PartLocation": {
        "ServiceLabel": label,
        "LocationType": "Bay",
        "LocationOrdinalValue": ordinal,
    }})
}

/// A device's own status: every alarm counts.
fn device_status(d: &Device) -> Value {
    let mut s = status(d, &AlarmCode::ALL, None);
    if let (Some(obj), Some(state)) = (s.as_object_mut(), live_state(d)) {
        obj.insert("State".into(), state.into());
    }
    s
}

fn live_state(d: &Device) -> Option<&'static str> {
    let (state, mode) = match d.live()? {
        Message::CoolantTelemetry(t) => (t.state, t.mode),
        Message::PowerTelemetry(t) => (t.state, t.mode),
        _ => return None,
    };
    Some(match (state, mode) {
        (_, OperatingMode::Standby) | (ControllerState::Stopped | ControllerState::Off, _) => {
            "StandbyOffline"
        }
        (ControllerState::Startup | ControllerState::Sequencing, _) => "Starting",
        (ControllerState::Degraded | ControllerState::Failsafe, _) => "Degraded",
        _ => "Enabled",
    })
}

/// A value rounded as the devices measure (0.01 at best): no false precision.
fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// A sensor excerpt: its reading, or null while there is none (the link is down).
fn reading(value: Option<f64>) -> Value {
    json!({ "Reading": value.map(round) })
}

fn coolant(d: &Device) -> Option<&CoolantTelemetry> {
    match d.live()? {
        Message::CoolantTelemetry(t) => Some(t),
        _ => None,
    }
}

fn power(d: &Device) -> Option<&PowerTelemetry> {
    match d.live()? {
        Message::PowerTelemetry(t) => Some(t),
        _ => None,
    }
}

fn cdu(devices: &[Device]) -> Option<&Device> {
    devices.iter().find(|d| d.is_cdu())
}

fn rack<'a>(devices: &'a [Device], name: &str) -> Option<&'a Device> {
    devices.iter().find(|d| !d.is_cdu() && d.name == name)
}

/// A leak zone's name: `rack-N` for a rack's, `cdu` for the CDU's own (the last zone).
fn zone_name(zone: usize, zones: usize) -> String {
    if zone + 1 == zones {
        "cdu".into()
    } else {
        format!("rack-{zone}")
    }
}

/// Each leak detector's resource, in the CDU's order: under its rack's chassis
/// (`/redfish/v1/Chassis/rack-N/LeakDetectors/moisture` or `float`); the CDU's own zone (the
/// last), and a zone whose rack the gateway does not connect to, under the CDU's chassis
/// (`cdu/LeakDetectors/moisture`, `cdu/LeakDetectors/rack-9-float`).
pub fn detectors(t: &CoolantTelemetry, devices: &[Device]) -> Vec<String> {
    let zones = t.leak_detectors.len() / 2;
    (0..t.leak_detectors.len())
        .map(|i| {
            let kind = if i % 2 == 0 { "moisture" } else { "float" };
            let zone = zone_name(i / 2, zones);
            if zone == "cdu" || devices.iter().any(|d| d.name == zone) {
                format!("{CHASSIS}/{zone}/LeakDetectors/{kind}")
            } else {
                format!("{CHASSIS}/cdu/LeakDetectors/{zone}-{kind}")
            }
        })
        .collect()
}

fn setpoint(d: &Device, id: SetpointId) -> Option<&rack_protocol::message::Setpoint> {
    d.setpoints.iter().find(|s| s.id == id)
}

/// The resource at `path` (without a trailing slash), if there is one.
pub fn get(path: &str, v: &View<'_>) -> Option<Value> {
    let rest = path.strip_prefix(ROOT)?;
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [] => Some(service_root(v)),
        ["SessionService"] => Some(session_service()),
        ["SessionService", "Sessions"] => {
            let ids: Vec<String> = v.sessions.iter().map(|(id, _)| id.clone()).collect();
            Some(collection(
                "/redfish/v1/SessionService/Sessions",
                "Session",
                "Sessions",
                &ids,
            ))
        }
        ["SessionService", "Sessions", id] => {
            let (sid, user) = v.sessions.iter().find(|(s, _)| s == id)?;
            let mut m = resource(
                &format!("/redfish/v1/SessionService/Sessions/{sid}"),
                "Session.v1_8_0.Session",
                sid,
                "User session",
            );
            m.insert("UserName".into(), user.clone().into());
            Some(Value::Object(m))
        }
        ["EventService"] => Some(event_service()),
        ["EventService", "Subscriptions"] => Some(collection(
            "/redfish/v1/EventService/Subscriptions",
            "EventDestination",
            "Event subscriptions",
            &[],
        )),
        ["Chassis"] => {
            let names: Vec<String> = v.devices.iter().map(|d| d.name.clone()).collect();
            Some(collection(CHASSIS, "Chassis", "Chassis", &names))
        }
        ["Chassis", name] => chassis(v.devices.iter().find(|d| d.name == *name)?),
        ["Chassis", name, "LeakDetectors"] => {
            v.devices.iter().find(|d| d.name == *name)?;
            let id = format!("{CHASSIS}/{name}/LeakDetectors");
            let ids: Vec<String> = cdu(v.devices)
                .and_then(coolant)
                .map(|t| detectors(t, v.devices))
                .unwrap_or_default()
                .iter()
                .filter_map(|x| x.strip_prefix(&format!("{id}/")).map(str::to_owned))
                .collect();
            Some(collection(&id, "LeakDetector", "Leak detectors", &ids))
        }
        ["Chassis", name, "LeakDetectors", kind] => leak_detector(
            cdu(v.devices)?,
            v.devices,
            &format!("{CHASSIS}/{name}/LeakDetectors/{kind}"),
        ),
        ["Chassis", name, "Controls"] => {
            rack(v.devices, name)?;
            Some(collection(
                &format!("{CHASSIS}/{name}/Controls"),
                "Control",
                "Controls",
                &["PowerLimit".to_owned()],
            ))
        }
        ["Chassis", name, "Controls", "PowerLimit"] => power_limit(rack(v.devices, name)?),
        ["Chassis", name, "PowerSubsystem"] => power_subsystem(rack(v.devices, name)?),
        ["Chassis", name, "PowerSubsystem", "Batteries"] => {
            let d = rack(v.devices, name)?;
            let ids: Vec<String> = power(d)
                .map(|t| (1..=t.bbus.len()).map(|i| i.to_string()).collect())
                .unwrap_or_default();
            Some(collection(
                &format!("{CHASSIS}/{name}/PowerSubsystem/Batteries"),
                "Battery",
                "Battery backup units",
                &ids,
            ))
        }
        ["Chassis", name, "PowerSubsystem", "Batteries", n] => {
            battery(rack(v.devices, name)?, n.parse::<usize>().ok()?)
        }
        ["ThermalEquipment"] => Some(equipment(
            "ThermalEquipment.v1_2_0",
            "Cooling equipment",
            "CDUs",
            CDUS,
        )),
        ["ThermalEquipment", "CDUs"] => {
            let names: Vec<String> = cdu(v.devices).iter().map(|d| d.name.clone()).collect();
            Some(collection(CDUS, "CoolingUnit", "CDUs", &names))
        }
        ["ThermalEquipment", "CDUs", id, tail @ ..] => {
            let d = cdu(v.devices).filter(|d| d.name == *id)?;
            cooling_unit(d, v.devices, tail, v.nameplate)
        }
        ["PowerEquipment"] => Some(equipment(
            "PowerEquipment.v1_2_3",
            "Power equipment",
            "PowerShelves",
            SHELVES,
        )),
        ["PowerEquipment", "PowerShelves"] => {
            let mut ids = Vec::new();
            for d in v.devices.iter().filter(|d| !d.is_cdu()) {
                let shelves = power(d).map_or(0, |t| t.shelves.len());
                ids.extend((0..shelves).map(|s| format!("{}-shelf-{s}", d.name)));
            }
            Some(collection(
                SHELVES,
                "PowerDistribution",
                "Power shelves",
                &ids,
            ))
        }
        ["PowerEquipment", "PowerShelves", id] => {
            let (name, shelf) = id.rsplit_once("-shelf-")?;
            shelf_resource(rack(v.devices, name)?, shelf.parse().ok()?)
        }
        _ => None,
    }
}

/// `ThermalEquipment` or `PowerEquipment` (`kind` is the namespace with its version): the
/// singleton under the root with the one collection the gateway serves in it.
fn equipment(kind: &str, name: &str, collection: &str, at: &str) -> Value {
    let id = kind.split('.').next().unwrap_or(kind);
    let mut m = resource(&format!("{ROOT}/{id}"), &format!("{kind}.{id}"), id, name);
    m.insert(collection.into(), link(at));
    m.insert("Status".into(), json!({ "State": "Enabled" }));
    Value::Object(m)
}

fn service_root(v: &View<'_>) -> Value {
    let mut m = resource(
        "/redfish/v1",
        "ServiceRoot.v1_21_0.ServiceRoot",
        "RootService",
        "rackgw: a rackloop row",
    );
    m.insert("RedfishVersion".into(), "1.22.0".into());
    m.insert("UUID".into(), v.uuid.into());
    m.insert("Product".into(), "rackloop rackgw".into());
    m.insert("Vendor".into(), "rackloop".into());
    m.insert("Chassis".into(), link(CHASSIS));
    m.insert(
        "ThermalEquipment".into(),
        link("/redfish/v1/ThermalEquipment"),
    );
    m.insert("PowerEquipment".into(), link("/redfish/v1/PowerEquipment"));
    m.insert("SessionService".into(), link("/redfish/v1/SessionService"));
    m.insert("EventService".into(), link("/redfish/v1/EventService"));
    m.insert(
        "Links".into(),
        json!({ "Sessions": link("/redfish/v1/SessionService/Sessions") }),
    );
    Value::Object(m)
}

/// Idle sessions end after this, s.
pub const SESSION_TIMEOUT_S: u64 = 1_800;

fn session_service() -> Value {
    let mut m = resource(
        "/redfish/v1/SessionService",
        "SessionService.v1_2_0.SessionService",
        "SessionService",
        "Sessions",
    );
    m.insert("ServiceEnabled".into(), true.into());
    m.insert("SessionTimeout".into(), SESSION_TIMEOUT_S.into());
    m.insert(
        "Sessions".into(),
        link("/redfish/v1/SessionService/Sessions"),
    );
    m.insert(
        "Status".into(),
        json!({ "State": "Enabled", "Health": "OK" }),
    );
    Value::Object(m)
}

pub const SSE: &str = "/redfish/v1/EventService/SSE";

fn event_service() -> Value {
    let mut m = resource(
        "/redfish/v1/EventService",
        "EventService.v1_12_0.EventService",
        "EventService",
        "Alarms as events",
    );
    m.insert("ServiceEnabled".into(), true.into());
    m.insert("ServerSentEventUri".into(), SSE.into());
    m.insert("DeliveryRetryAttempts".into(), 0.into());
    m.insert("DeliveryRetryIntervalSeconds".into(), 0.into());
    m.insert(
        "RegistryPrefixes".into(),
        json!(["Environmental", "ResourceEvent"]),
    );
    m.insert("EventFormatTypes".into(), json!(["Event"]));
    m.insert(
        "Subscriptions".into(),
        link("/redfish/v1/EventService/Subscriptions"),
    );
    m.insert(
        "Status".into(),
        json!({ "State": "Enabled", "Health": "OK" }),
    );
    Value::Object(m)
}

fn chassis(d: &Device) -> Option<Value> {
    let id = format!("{CHASSIS}/{}", d.name);
    let mut m = resource(&id, "Chassis.v1_28_0.Chassis", &d.name, &d.name);
    if d.is_cdu() {
        m.insert("ChassisType".into(), "Enclosure".into());
        m.insert(
            "Description".into(),
            "The row's coolant distribution unit".into(),
        );
        m.insert(
            "Links".into(),
            json!({ "CoolingUnits": [link(&format!("{CDUS}/{}", d.name))] }),
        );
    } else {
        m.insert("ChassisType".into(), "Rack".into());
        m.insert(
            "Description".into(),
            "A rack and its power controller".into(),
        );
        m.insert("Controls".into(), link(&format!("{id}/Controls")));
        m.insert(
            "PowerSubsystem".into(),
            link(&format!("{id}/PowerSubsystem")),
        );
    }
    if let Some(i) = &d.identity {
        m.insert("SerialNumber".into(), i.serial_number.as_str().into());
        m.insert("Manufacturer".into(), "rackloop".into());
    }
    // The zone's leak detectors (the CDU reads them all, its own zone included).
    m.insert("LeakDetectors".into(), link(&format!("{id}/LeakDetectors")));
    m.insert("Status".into(), device_status(d));
    Some(Value::Object(m))
}

fn power_limit(d: &Device) -> Option<Value> {
    let id = format!("{CHASSIS}/{}/Controls/PowerLimit", d.name);
    let mut m = resource(
        &id,
        "Control.v1_8_0.Control",
        "PowerLimit",
        "Rack power limit",
    );
    m.insert("ControlType".into(), "Power".into());
    m.insert("SetPointUnits".into(), "W".into());
    m.insert("ControlMode".into(), "Automatic".into());
    m.insert("PhysicalContext".into(), "Chassis".into());
    if let (true, Some(s)) = (d.link_up, setpoint(d, SetpointId::RackPowerBudgetW)) {
        m.insert("SetPoint".into(), s.value.into());
        m.insert("AllowableMin".into(), s.min.into());
        m.insert("AllowableMax".into(), s.max.into());
    }
    if let Some(t) = power(d) {
        m.insert("Sensor".into(), json!({ "Reading": t.rack_input_power_w }));
    }
    m.insert("Status".into(), status(d, &[AlarmCode::PowerCapped], None));
    Some(Value::Object(m))
}

fn power_subsystem(d: &Device) -> Option<Value> {
    let id = format!("{CHASSIS}/{}/PowerSubsystem", d.name);
    let mut m = resource(
        &id,
        "PowerSubsystem.v1_1_4.PowerSubsystem",
        "PowerSubsystem",
        "Rack power",
    );
    m.insert("Batteries".into(), link(&format!("{id}/Batteries")));
    if let Some(t) = power(d) {
        m.insert(
            "Allocation".into(),
            json!({ "AllocatedWatts": t.power_budget_w }),
        );
    }
    m.insert(
        "Status".into(),
        status(
            d,
            &[
                AlarmCode::PsuFault,
                AlarmCode::AcLoss,
                AlarmCode::BbuLow,
                AlarmCode::BreakerTripped,
            ],
            None,
        ),
    );
    Some(Value::Object(m))
}

fn battery(d: &Device, n: usize) -> Option<Value> {
    let t = power(d);
    if t.is_some_and(|t| n == 0 || n > t.bbus.len()) || n == 0 {
        return None;
    }
    let id = format!("{CHASSIS}/{}/PowerSubsystem/Batteries/{n}", d.name);
    let mut m = resource(
        &id,
        "Battery.v1_5_0.Battery",
        &n.to_string(),
        &format!("Battery backup unit {n}"),
    );
    m.insert("EnergyStorageType".into(), "Battery".into());
    match t.and_then(|t| t.bbus.get(n - 1)) {
        Some(b) => {
            m.insert(
                "ChargeState".into(),
                match b.state {
                    BbuState::Charging => "Charging",
                    BbuState::Discharging => "Discharging",
                    BbuState::Standby | BbuState::Faulted => "Idle",
                }
                .into(),
            );
            let health = match b.state {
                BbuState::Faulted => "Critical",
                _ if b.state_of_charge_permille < 200 => "Warning",
                _ => "OK",
            };
            m.insert(
                "Status".into(),
                json!({ "State": "Enabled", "Health": health }),
            );
        }
        None => {
            m.insert("Status".into(), offline());
        }
    }
    m.insert("Location".into(), bay(&format!("BBU {n}"), n));
    Some(Value::Object(m))
}

fn shelf_resource(d: &Device, shelf: usize) -> Option<Value> {
    let t = power(d);
    if t.is_some_and(|t| shelf >= t.shelves.len()) {
        return None;
    }
    let id = format!("{SHELVES}/{}-shelf-{shelf}", d.name);
    let mut m = resource(
        &id,
        "PowerDistribution.v1_6_0.PowerDistribution",
        &format!("{}-shelf-{shelf}", d.name),
        &format!("{} power shelf {shelf}", d.name),
    );
    m.insert("EquipmentType".into(), "PowerShelf".into());
    m.insert(
        "Links".into(),
        json!({ "Chassis": [link(&format!("{CHASSIS}/{}", d.name))] }),
    );
    match t.and_then(|t| t.shelves.get(shelf)) {
        Some(s) => {
            let faulted = s.psus.iter().filter(|p| **p == PsuState::Faulted).count();
            let health = if faulted > 1 {
                "Critical"
            } else if faulted == 1 {
                "Warning"
            } else {
                "OK"
            };
            m.insert(
                "Status".into(),
                json!({ "State": "Enabled", "Health": health }),
            );
        }
        None => {
            m.insert("Status".into(), offline());
        }
    }
    m.insert("Location".into(), bay(&format!("Shelf {shelf}"), shelf));
    Some(Value::Object(m))
}

/// The CDU and everything under it.
fn cooling_unit(d: &Device, devices: &[Device], tail: &[&str], np: &Nameplate) -> Option<Value> {
    let base = format!("{CDUS}/{}", d.name);
    let t = coolant(d);
    match tail {
        [] => {
            let mut m = resource(
                &base,
                "CoolingUnit.v1_5_0.CoolingUnit",
                &d.name,
                "Coolant distribution unit",
            );
            m.insert("EquipmentType".into(), "CDU".into());
            m.insert("CoolingCapacityWatts".into(), np.cooling_capacity_w.into());
            if let Some(i) = &d.identity {
                m.insert("SerialNumber".into(), i.serial_number.as_str().into());
                let v = i.firmware_version;
                m.insert(
                    "FirmwareVersion".into(),
                    format!("{}.{}.{}", v.major, v.minor, v.patch).into(),
                );
                m.insert("Manufacturer".into(), "rackloop".into());
            }
            m.insert("Status".into(), device_status(d));
            for (k, sub) in [
                ("Pumps", "Pumps"),
                ("Reservoirs", "Reservoirs"),
                ("PrimaryCoolantConnectors", "PrimaryCoolantConnectors"),
                ("SecondaryCoolantConnectors", "SecondaryCoolantConnectors"),
                ("LeakDetection", "LeakDetection"),
            ] {
                m.insert(k.into(), link(&format!("{base}/{sub}")));
            }
            m.insert("Coolant".into(), secondary_coolant(np));
            m.insert(
                "Links".into(),
                json!({ "Chassis": [link(&format!("{CHASSIS}/{}", d.name))] }),
            );
            Some(Value::Object(m))
        }
        ["Pumps"] => {
            let n = t.map_or(0, |t| t.pumps.len());
            let ids: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
            Some(collection(&format!("{base}/Pumps"), "Pump", "Pumps", &ids))
        }
        ["Pumps", n] => pump(d, &base, n.parse().ok()?, np),
        ["Reservoirs"] => Some(collection(
            &format!("{base}/Reservoirs"),
            "Reservoir",
            "Reservoirs",
            &["1".to_owned()],
        )),
        ["Reservoirs", "1"] => Some(reservoir(d, &base, np)),
        ["PrimaryCoolantConnectors"] => Some(collection(
            &format!("{base}/PrimaryCoolantConnectors"),
            "CoolantConnector",
            "Facility water connections",
            &["1".to_owned()],
        )),
        ["PrimaryCoolantConnectors", "1"] => Some(primary(d, &base)),
        ["SecondaryCoolantConnectors"] => Some(collection(
            &format!("{base}/SecondaryCoolantConnectors"),
            "CoolantConnector",
            "Row coolant connections",
            &["1".to_owned()],
        )),
        ["SecondaryCoolantConnectors", "1"] => Some(secondary(d, &base, np)),
        ["LeakDetection"] => {
            let mut m = resource(
                &format!("{base}/LeakDetection"),
                "LeakDetection.v1_2_0.LeakDetection",
                "LeakDetection",
                "Leak detection",
            );
            // A group per zone: the rack's (or the CDU's own) moisture and float detectors.
            let all = t.map(|t| detectors(t, devices)).unwrap_or_default();
            let groups: Vec<Value> = all
                .chunks(2)
                .enumerate()
                .zip(t.map(|t| t.leak_detectors.chunks(2)).into_iter().flatten())
                .map(|((zone, pair), states)| {
                    let name = zone_name(zone, all.len() / 2);
                    let instance = if name == "cdu" {
                        255
                    } else {
                        u8::try_from(zone).unwrap_or(u8::MAX)
                    };
                    json!({
                        "GroupName": name,
                        // Excerpts: where each detector is, and what it reads.
                        "Detectors": pair.iter().zip(states).map(|(x, st)| json!({
                            "DataSourceUri": x,
                            "DetectorState": detector_state(*st).0,
                        })).collect::<Vec<_>>(),
                        "Detectors@odata.count": pair.len(),
                        "Status": status(d, &[AlarmCode::LeakDetected], Some(instance)),
                    })
                })
                .collect();
            m.insert("LeakDetectorGroups".into(), groups.into());
            m.insert("Status".into(), status(d, &[AlarmCode::LeakDetected], None));
            Some(Value::Object(m))
        }
        _ => None,
    }
}

fn secondary_coolant(np: &Nameplate) -> Value {
    json!({
        "CoolantType": "Water",
        "AdditiveName": "Propylene glycol",
        "AdditivePercent": 25,
        "DensityKgPerCubicMeter": np.coolant_density_kg_per_m3,
        "SpecificHeatkJoulesPerKgK": np.coolant_specific_heat_kj_per_kg_k,
    })
}

fn pump(d: &Device, base: &str, n: usize, np: &Nameplate) -> Option<Value> {
    let t = coolant(d);
    if n == 0 || t.is_some_and(|t| n > t.pumps.len()) {
        return None;
    }
    let mut m = resource(
        &format!("{base}/Pumps/{n}"),
        "Pump.v1_2_0.Pump",
        &n.to_string(),
        &format!("Secondary pump {n}"),
    );
    m.insert("PumpType".into(), "Liquid".into());
    m.insert("Location".into(), bay(&format!("Pump {n}"), n));
    match t.and_then(|t| t.pumps.get(n - 1).map(|p| (t, p))) {
        Some((t, p)) => {
            let percent = f64::from(p.speed_rpm) / np.pump_rated_rpm * 100.0;
            m.insert("PumpSpeedPercent".into(), reading(Some(percent)));
            let lead = usize::from(t.lead_pump) + 1 == n;
            let state = match p.state {
                PumpState::Running => "Enabled",
                PumpState::Standby => "StandbySpare",
                PumpState::Off => {
                    if lead {
                        "Disabled"
                    } else {
                        "StandbySpare"
                    }
                }
                PumpState::Faulted => "UnavailableOffline",
            };
            let health = if p.state == PumpState::Faulted {
                "Critical"
            } else {
                "OK"
            };
            m.insert("Status".into(), json!({ "State": state, "Health": health }));
        }
        None => {
            m.insert("PumpSpeedPercent".into(), reading(None));
            m.insert("Status".into(), status(d, &[], None));
        }
    }
    Some(Value::Object(m))
}

fn reservoir(d: &Device, base: &str, np: &Nameplate) -> Value {
    let mut m = resource(
        &format!("{base}/Reservoirs/1"),
        "Reservoir.v1_0_2.Reservoir",
        "1",
        "Reservoir",
    );
    m.insert("ReservoirType".into(), "Inline".into());
    m.insert("CapacityLiters".into(), np.reservoir_liters.into());
    m.insert("Location".into(), bay("Reservoir", 1));
    let low = d
        .alarms
        .iter()
        .any(|a| a.active && a.code == AlarmCode::ReservoirLow);
    match coolant(d) {
        Some(t) => {
            m.insert(
                "FluidLevelPercent".into(),
                reading(Some(f64::from(t.reservoir_level_permille) / 10.0)),
            );
            m.insert(
                "FluidLevelStatus".into(),
                if low { "Critical" } else { "OK" }.into(),
            );
        }
        None => {
            m.insert("FluidLevelPercent".into(), reading(None));
        }
    }
    m.insert("Status".into(), status(d, &[AlarmCode::ReservoirLow], None));
    Value::Object(m)
}

fn centi(c: i16) -> f64 {
    f64::from(c) / 100.0
}

/// The secondary supply temperature: the mean of the redundant sensors that read.
fn supply_temp(t: &CoolantTelemetry) -> Option<f64> {
    let n = t.secondary_supply_temps_centi_c.len();
    (n > 0).then(|| {
        t.secondary_supply_temps_centi_c
            .iter()
            .map(|c| centi(*c))
            .sum::<f64>()
            / f64::from(u8::try_from(n).unwrap_or(u8::MAX))
    })
}

fn primary(d: &Device, base: &str) -> Value {
    let mut m = resource(
        &format!("{base}/PrimaryCoolantConnectors/1"),
        "CoolantConnector.v1_4_0.CoolantConnector",
        "1",
        "Facility water",
    );
    m.insert("CoolantConnectorType".into(), "Pair".into());
    m.insert("Coolant".into(), json!({ "CoolantType": "Water" }));
    let t = coolant(d);
    let supply = t.map(|t| centi(t.primary_supply_temp_centi_c));
    let ret = t.map(|t| centi(t.primary_return_temp_centi_c));
    m.insert("SupplyTemperatureCelsius".into(), reading(supply));
    m.insert("ReturnTemperatureCelsius".into(), reading(ret));
    m.insert(
        "DeltaTemperatureCelsius".into(),
        reading(supply.zip(ret).map(|(s, r)| r - s)),
    );
    m.insert(
        "ValvePositionPercent".into(),
        reading(t.map(|t| f64::from(t.primary_valve_position_permille) / 10.0)),
    );
    // The facility side's flow is not measured (the valve's position is): no flow, no heat.
    m.insert("Status".into(), status(d, &[AlarmCode::ValveFault], None));
    Value::Object(m)
}

/// Heat the row's coolant carries away, kW: flow x density x specific heat x rise.
fn heat_removed_kw(t: &CoolantTelemetry, np: &Nameplate) -> Option<f64> {
    let supply = supply_temp(t)?;
    let rise = centi(t.secondary_return_temp_centi_c) - supply;
    let m3_per_s = f64::from(t.secondary_flow_deci_lpm) / 10.0 / 60_000.0;
    Some(m3_per_s * np.coolant_density_kg_per_m3 * np.coolant_specific_heat_kj_per_kg_k * rise)
}

fn secondary(d: &Device, base: &str, np: &Nameplate) -> Value {
    let mut m = resource(
        &format!("{base}/SecondaryCoolantConnectors/1"),
        "CoolantConnector.v1_4_0.CoolantConnector",
        "1",
        "Row coolant",
    );
    m.insert("CoolantConnectorType".into(), "Pair".into());
    m.insert("Coolant".into(), secondary_coolant(np));
    m.insert("RatedFlowLitersPerMinute".into(), np.rated_flow_lpm.into());
    let t = coolant(d);
    let supply = t.and_then(supply_temp);
    let ret = t.map(|t| centi(t.secondary_return_temp_centi_c));
    m.insert("SupplyTemperatureCelsius".into(), reading(supply));
    m.insert("ReturnTemperatureCelsius".into(), reading(ret));
    m.insert(
        "DeltaTemperatureCelsius".into(),
        reading(supply.zip(ret).map(|(s, r)| r - s)),
    );
    m.insert(
        "FlowLitersPerMinute".into(),
        reading(t.map(|t| f64::from(t.secondary_flow_deci_lpm) / 10.0)),
    );
    m.insert(
        "DeltaPressurekPa".into(),
        reading(t.map(|t| f64::from(t.differential_pressure_deci_kpa) / 10.0)),
    );
    m.insert(
        "HeatRemovedkW".into(),
        reading(t.and_then(|t| heat_removed_kw(t, np))),
    );
    let mut control = json!({
        "ControlMode": "Automatic",
        "DataSourceUri": format!("{base}/SecondaryCoolantConnectors/1"),
    });
    if let (Some(c), true, Some(s)) = (
        control.as_object_mut(),
        d.link_up,
        setpoint(d, SetpointId::SupplyTempCentiC),
    ) {
        c.insert("SetPoint".into(), (f64::from(s.value) / 100.0).into());
        c.insert("AllowableMin".into(), (f64::from(s.min) / 100.0).into());
        c.insert("AllowableMax".into(), (f64::from(s.max) / 100.0).into());
        c.insert("Reading".into(), supply.map(round).into());
    }
    m.insert("SupplyTemperatureControlCelsius".into(), control);
    m.insert(
        "Status".into(),
        status(
            d,
            &[
                AlarmCode::SupplyTempHigh,
                AlarmCode::SupplyTempLow,
                AlarmCode::SupplySensorsLost,
                AlarmCode::CannotHoldSetpoint,
                AlarmCode::PumpFault,
            ],
            None,
        ),
    );
    Value::Object(m)
}

/// A detector's (`DetectorState`, `Status.State`, `Status.Health`).
fn detector_state(state: LeakState) -> (&'static str, &'static str, &'static str) {
    match state {
        LeakState::Ok => ("OK", "Enabled", "OK"),
        LeakState::Warning => ("Warning", "Enabled", "Warning"),
        LeakState::Critical => ("Critical", "Enabled", "Critical"),
        LeakState::Unavailable => ("Unavailable", "UnavailableOffline", "Warning"),
        LeakState::Absent => ("Absent", "Absent", "OK"),
    }
}

/// The leak detector at `uri`, as the CDU (`d`) reads it.
fn leak_detector(d: &Device, devices: &[Device], uri: &str) -> Option<Value> {
    let t = coolant(d)?;
    let index = detectors(t, devices).iter().position(|x| x == uri)?;
    let state = t.leak_detectors.get(index)?;
    let zone = zone_name(index / 2, t.leak_detectors.len() / 2);
    let kind = if index % 2 == 0 { "moisture" } else { "float" };
    let mut m = resource(
        uri,
        "LeakDetector.v1_6_0.LeakDetector",
        uri.rsplit('/').next()?,
        &format!("Leak detector {zone} {kind}"),
    );
    m.insert("UserLabel".into(), format!("{zone}-{kind}").into());
    m.insert(
        "LeakDetectorType".into(),
        if index % 2 == 0 {
            "Moisture"
        } else {
            "FloatSwitch"
        }
        .into(),
    );
    let (detector, st, health) = detector_state(*state);
    m.insert("DetectorState".into(), detector.into());
    m.insert("Status".into(), json!({ "State": st, "Health": health }));
    m.insert("PhysicalContext".into(), "LiquidInlet".into());
    if let Some(s) = setpoint(d, SetpointId::LeakReactionDelayS) {
        m.insert("ReactionDelaySeconds".into(), s.value.into());
    }
    Some(Value::Object(m))
}

/// The resource an alarm is about, for an event's `OriginOfCondition`.
pub fn alarm_origin(d: &Device, devices: &[Device], code: AlarmCode, instance: u8) -> String {
    let cdu = format!("{CDUS}/{}", d.name);
    match code {
        AlarmCode::PumpFault => format!("{cdu}/Pumps/{}", u16::from(instance) + 1),
        AlarmCode::LeakDetected => {
            // The zone's moisture detector; 255 is the CDU's own zone (the last).
            let all = coolant(d)
                .map(|t| detectors(t, devices))
                .unwrap_or_default();
            let zone = if instance == 255 {
                (all.len() / 2).saturating_sub(1)
            } else {
                usize::from(instance)
            };
            all.get(2 * zone)
                .cloned()
                .unwrap_or_else(|| format!("{cdu}/LeakDetection"))
        }
        AlarmCode::ReservoirLow => format!("{cdu}/Reservoirs/1"),
        AlarmCode::ValveFault => format!("{cdu}/PrimaryCoolantConnectors/1"),
        AlarmCode::SupplyTempHigh
        | AlarmCode::SupplyTempLow
        | AlarmCode::SupplySensorsLost
        | AlarmCode::CannotHoldSetpoint => format!("{cdu}/SecondaryCoolantConnectors/1"),
        _ if d.is_cdu() => cdu,
        AlarmCode::PowerCapped => format!("{CHASSIS}/{}/Controls/PowerLimit", d.name),
        AlarmCode::PsuFault => format!("{SHELVES}/{}-shelf-{}", d.name, instance / 8),
        AlarmCode::BbuLow => format!("{CHASSIS}/{}/PowerSubsystem", d.name),
        _ => format!("{CHASSIS}/{}", d.name),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use rack_host::link::Target;
    use rack_protocol::message::PumpStatus;
    use rack_protocol::types::{ControllerState, PumpControlMode};

    fn cdu_device(zones: usize) -> Device {
        let mut d = Device::new("cdu".into(), Target::Tcp("x:1".into()));
        let mut leaks = heapless::Vec::new();
        for _ in 0..2 * zones {
            leaks.push(LeakState::Ok).unwrap();
        }
        d.telemetry = Some(Message::CoolantTelemetry(CoolantTelemetry {
            uptime_ms: 1,
            state: ControllerState::Running,
            mode: OperatingMode::Auto,
            pump_control: PumpControlMode::DifferentialPressure,
            supply_setpoint_centi_c: 3000,
            secondary_supply_temps_centi_c: heapless::Vec::from_slice(&[2990, 3010]).unwrap(),
            secondary_return_temp_centi_c: 4000,
            primary_supply_temp_centi_c: 2500,
            primary_return_temp_centi_c: 3500,
            secondary_flow_deci_lpm: 12_000,
            differential_pressure_deci_kpa: 300,
            pumps: heapless::Vec::from_slice(&[
                PumpStatus {
                    speed_rpm: 2_880,
                    state: PumpState::Running,
                },
                PumpStatus {
                    speed_rpm: 0,
                    state: PumpState::Standby,
                },
            ])
            .unwrap(),
            lead_pump: 0,
            primary_valve_position_permille: 500,
            reservoir_level_permille: 800,
            leak_detectors: leaks,
            isolated_racks: 0,
            sensor_faults: 0,
            thermal_headroom_w: 1000,
            active_alarms: 0,
        }));
        d.link_up = true;
        d
    }

    fn get_at(path: &str, devices: &[Device]) -> Option<Value> {
        get(
            path,
            &View {
                devices,
                sessions: &[],
                nameplate: &Nameplate::default(),
                uuid: "u",
            },
        )
    }

    #[test]
    fn the_secondary_side_reads_in_redfish_units_with_heat_from_flow_and_rise() {
        let devices = [cdu_device(1)];
        let v = get_at(
            &format!("{CDUS}/cdu/SecondaryCoolantConnectors/1"),
            &devices,
        )
        .unwrap();
        assert_eq!(v["SupplyTemperatureCelsius"]["Reading"], 30.0);
        assert_eq!(v["DeltaTemperatureCelsius"]["Reading"], 10.0);
        assert_eq!(v["FlowLitersPerMinute"]["Reading"], 1200.0);
        assert_eq!(v["DeltaPressurekPa"]["Reading"], 30.0);
        // 0.02 m3/s x 1020 kg/m3 x 3.9 kJ/(kg K) x 10 K
        assert_eq!(v["HeatRemovedkW"]["Reading"], 795.6);
        let pump = get_at(&format!("{CDUS}/cdu/Pumps/1"), &devices).unwrap();
        assert_eq!(pump["PumpSpeedPercent"]["Reading"], 80.0);
        let standby = get_at(&format!("{CDUS}/cdu/Pumps/2"), &devices).unwrap();
        assert_eq!(standby["Status"]["State"], "StandbySpare");
        assert!(get_at(&format!("{CDUS}/cdu/Pumps/3"), &devices).is_none());
    }

    #[test]
    fn a_device_whose_link_is_down_is_unavailable_and_shows_no_reading() {
        let mut d = cdu_device(1);
        d.link_up = false;
        let devices = [d];
        let cdu = get_at(&format!("{CDUS}/cdu"), &devices).unwrap();
        assert_eq!(cdu["Status"]["State"], "UnavailableOffline");
        let v = get_at(
            &format!("{CDUS}/cdu/SecondaryCoolantConnectors/1"),
            &devices,
        )
        .unwrap();
        for sensor in [
            "SupplyTemperatureCelsius",
            "FlowLitersPerMinute",
            "HeatRemovedkW",
        ] {
            assert!(v[sensor]["Reading"].is_null(), "{sensor}: {v}");
        }
        assert!(v["SupplyTemperatureControlCelsius"]["SetPoint"].is_null());
    }

    #[test]
    fn leak_detectors_sit_under_their_racks_chassis_or_the_cdus() {
        let rack = Device::new("rack-0".into(), Target::Tcp("x:2".into()));
        let devices = [cdu_device(3), rack];
        let Some(Message::CoolantTelemetry(t)) = &devices[0].telemetry else {
            unreachable!()
        };
        assert_eq!(
            detectors(t, &devices),
            [
                "/redfish/v1/Chassis/rack-0/LeakDetectors/moisture",
                "/redfish/v1/Chassis/rack-0/LeakDetectors/float",
                // rack-1's controller is not among the gateway's devices
                "/redfish/v1/Chassis/cdu/LeakDetectors/rack-1-moisture",
                "/redfish/v1/Chassis/cdu/LeakDetectors/rack-1-float",
                "/redfish/v1/Chassis/cdu/LeakDetectors/moisture",
                "/redfish/v1/Chassis/cdu/LeakDetectors/float",
            ]
        );
        let rack_zone = get_at("/redfish/v1/Chassis/rack-0/LeakDetectors", &devices).unwrap();
        assert_eq!(rack_zone["Members@odata.count"], 2);
        let float = get_at("/redfish/v1/Chassis/rack-0/LeakDetectors/float", &devices).unwrap();
        assert_eq!(float["LeakDetectorType"], "FloatSwitch");
        assert_eq!(float["DetectorState"], "OK");
        assert_eq!(
            alarm_origin(&devices[0], &devices, AlarmCode::LeakDetected, 255),
            "/redfish/v1/Chassis/cdu/LeakDetectors/moisture"
        );
    }
}
