//! Compiles the keys a board image is provisioned with into `OUT_DIR/build_keys.rs`: the file
//! `RACKLOOP_KEYS` names, else the repository's development keys (`firmware/boards/dev.keys`).
//! Until the configuration persists (the firmware issue), a board's keys come from its image.
// A build script reports failure by panicking: cargo shows the message and stops the build.
#![allow(clippy::expect_used, clippy::panic)]
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=RACKLOOP_KEYS");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let path = std::env::var_os("RACKLOOP_KEYS")
        .map_or_else(|| manifest.join("../boards/dev.keys"), PathBuf::from);
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("keys file {}: {e}", path.display()));
    let mut out = String::from(
        "/// The keys this image was built with (see build.rs).\npub const BUILD_KEYS: &[(u16, rack_protocol::types::KeyRole, [u8; 32])] = &[\n",
    );
    for (number, line) in text.lines().enumerate() {
        match rack_protocol::auth::parse_key_line(line) {
            Ok(Some((key, role))) => {
                writeln!(
                    out,
                    "    ({}, rack_protocol::types::KeyRole::{role:?}, {:?}),",
                    key.id, key.secret
                )
                .expect("write to a String");
            }
            Ok(None) => {}
            Err(e) => panic!("{} line {}: {e}", path.display(), number + 1),
        }
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(dest.join("build_keys.rs"), out).expect("write build_keys.rs");
}
