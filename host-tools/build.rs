//! Embeds the DMTF CSDL schemas that `rackgw`'s Redfish service uses, with every schema they
//! reference in turn, from the `nv-redfish-schema` crate (DMTF's DSP8010 bundle). The service
//! serves them at `/redfish/v1/Schemas/` and references them from `$metadata`, so a client
//! (DMTF's service validator among them) needs no access to dmtf.org.
//!
//! The references are read from the files' `edmx:Reference Uri="..."` and `Schema Namespace`
//! attributes by plain text search: the files are DMTF's own, one attribute per line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The schemas of the resources `rackgw` serves; their references come with them.
const ROOTS: &[&str] = &[
    "ServiceRoot",
    "SessionService",
    "SessionCollection",
    "Session",
    "ChassisCollection",
    "Chassis",
    "ControlCollection",
    "Control",
    "PowerSubsystem",
    "BatteryCollection",
    "Battery",
    "ThermalEquipment",
    "CoolingUnitCollection",
    "CoolingUnit",
    "PumpCollection",
    "Pump",
    "ReservoirCollection",
    "Reservoir",
    "CoolantConnectorCollection",
    "CoolantConnector",
    "LeakDetection",
    "LeakDetectorCollection",
    "LeakDetector",
    "PowerEquipment",
    "PowerDistributionCollection",
    "PowerDistribution",
    "EventService",
    "EventDestinationCollection",
    "Event",
    "Message",
];

/// The values of every `name="..."` attribute in `text`.
fn attributes<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let pattern = format!("{name}=\"");
    text.match_indices(&pattern)
        .filter_map(|(at, _)| {
            let rest = text.get(at + pattern.len()..)?;
            rest.split('"').next()
        })
        .collect()
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // file name -> (its text's path, the namespaces it defines)
    let mut files: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut todo: Vec<String> = ROOTS.iter().map(|r| format!("{r}_v1.xml")).collect();
    while let Some(file) = todo.pop() {
        if files.contains_key(&file) {
            continue;
        }
        let path = nv_redfish_schema::redfish_schema(&file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            // OData's own vocabularies (Org.OData.*) are not DMTF files: clients know them.
            continue;
        };
        for uri in attributes(&text, "Uri") {
            if let Some(name) = uri.rsplit('/').next()
                && uri.starts_with("http://redfish.dmtf.org/schemas/")
                && name.ends_with(".xml")
            {
                todo.push(name.to_owned());
            }
        }
        let namespaces = text
            .lines()
            .filter(|l| l.trim_start().starts_with("<Schema "))
            .flat_map(|l| attributes(l, "Namespace"))
            .map(str::to_owned)
            .collect();
        files.insert(file, (path, namespaces));
    }
    let mut out = String::from(
        "/// The CSDL files served, by name: (file, its namespaces, its text).\n\
         pub const SCHEMAS: &[(&str, &[&str], &str)] = &[\n",
    );
    for (file, (path, namespaces)) in &files {
        let _ = writeln!(
            out,
            "    ({file:?}, &{namespaces:?}, include_str!({path:?})),"
        );
    }
    out.push_str("];\n");
    let target = std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_default())
        .join("redfish_schemas.rs");
    if let Err(e) = std::fs::write(&target, out) {
        println!("cargo::error=cannot write {}: {e}", target.display());
    }
}
