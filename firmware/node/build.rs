//! Compiles the keys a board image is provisioned with into `OUT_DIR/build_keys.rs`: the file
//! `RACKLOOP_KEYS` names, else the repository's development keys (`firmware/boards/dev.keys`).
//! Until the configuration persists (the firmware issue), a board's keys come from its image.
//! Also names the build: the firmware version (the crate's) in `OUT_DIR/build_info.rs` and
//! the source revision in `RACKLOOP_GIT_HASH` (`git rev-parse --short`, or the variable of
//! that name when set, e.g. by a build from a source archive; empty if neither says).
// A build script reports failure by panicking: cargo shows the message and stops the build.
#![allow(clippy::expect_used, clippy::panic)]
use std::fmt::Write as _;
use std::path::PathBuf;

#[path = "src/trial.rs"]
#[allow(dead_code)]
mod trial;

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
    build_info(&manifest, &dest);
    image_keys(&manifest, &dest);
    trial_times(&dest);
}

/// How long a swapped-in image is on trial (`src/trial.rs`), into `OUT_DIR/trial_times.rs`.
fn trial_times(dest: &std::path::Path) {
    let var = |name: &str| {
        println!("cargo:rerun-if-env-changed={name}");
        std::env::var(name).ok()
    };
    let (confirm, limit) = (
        var("RACKLOOP_CONFIRM_AFTER_S"),
        var("RACKLOOP_TRIAL_LIMIT_S"),
    );
    let (confirm_s, limit_s) = trial::trial_times(confirm.as_deref(), limit.as_deref())
        .unwrap_or_else(|e| {
            panic!(
                "RACKLOOP_CONFIRM_AFTER_S={} RACKLOOP_TRIAL_LIMIT_S={}: {e}",
                confirm.as_deref().unwrap_or("(unset)"),
                limit.as_deref().unwrap_or("(unset)")
            )
        });
    std::fs::write(
        dest.join("trial_times.rs"),
        format!(
            "/// Control-loop seconds a swapped-in image must run healthy before it marks itself good (the build's `RACKLOOP_CONFIRM_AFTER_S`, else {}).\npub const CONFIRM_AFTER_S: u16 = {confirm_s};\n/// Seconds after boot by which an image on trial must have marked itself good, or the board resets and the bootloader puts the previous image back (the build's `RACKLOOP_TRIAL_LIMIT_S`).\npub const TRIAL_LIMIT_S: u32 = {limit_s};\n",
            trial::DEFAULT_CONFIRM_AFTER_S
        ),
    )
    .expect("write trial_times.rs");
}

/// The public keys the image trusts to sign its updates, into `OUT_DIR/image_keys.rs`: the
/// file `RACKLOOP_IMAGE_KEYS` names, else the repository's (`firmware/boards/image-keys.pub`,
/// the development key): `ID PUBLICKEY` lines, `#` comments.
fn image_keys(manifest: &std::path::Path, dest: &std::path::Path) {
    println!("cargo:rerun-if-env-changed=RACKLOOP_IMAGE_KEYS");
    let path = std::env::var_os("RACKLOOP_IMAGE_KEYS")
        .map_or_else(|| manifest.join("../boards/image-keys.pub"), PathBuf::from);
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("image keys file {}: {e}", path.display()));
    let mut out = String::from(
        "/// The public keys this image trusts to sign its updates (see build.rs).\npub const IMAGE_KEYS: &[(u8, [u8; 32])] = &[\n",
    );
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || {
            panic!(
                "{} line {}: `ID PUBLICKEY` (ID 0..=255, 64 hex digits) expected, not `{line}`",
                path.display(),
                number + 1
            )
        };
        let mut words = line.split_whitespace();
        let (Some(id), Some(key), None) = (words.next(), words.next(), words.next()) else {
            bad()
        };
        let id: u8 = id.parse().unwrap_or_else(|_| bad());
        let bytes: Vec<u8> = (0..key.len())
            .step_by(2)
            .map(|i| {
                key.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .unwrap_or_else(|| bad())
            })
            .collect();
        if bytes.len() != 32 {
            bad();
        }
        writeln!(out, "    ({id}, {bytes:?}),").expect("write to a String");
    }
    out.push_str("];\n");
    std::fs::write(dest.join("image_keys.rs"), out).expect("write image_keys.rs");
}

/// The firmware version and the source revision.
fn build_info(manifest: &std::path::Path, dest: &std::path::Path) {
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets it");
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u8>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    let (major, minor, patch) = (next(), next(), next());
    std::fs::write(
        dest.join("build_info.rs"),
        format!(
            "/// This firmware's version (the crate's, {version}).\npub const FIRMWARE: rack_protocol::types::FirmwareVersion = rack_protocol::types::FirmwareVersion {{ major: {major}, minor: {minor}, patch: {patch} }};\n"
        ),
    )
    .expect("write build_info.rs");

    println!("cargo:rerun-if-env-changed=RACKLOOP_GIT_HASH");
    let hash = std::env::var("RACKLOOP_GIT_HASH").ok().or_else(|| {
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(manifest)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_owned())
        };
        // Rebuilt when the checkout moves: HEAD, and the branch it points at.
        if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
            println!("cargo:rerun-if-changed={dir}/HEAD");
            if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
                println!("cargo:rerun-if-changed={dir}/{head}");
            }
        }
        git(&["rev-parse", "--short=7", "HEAD"])
    });
    let hash: String = hash
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    println!("cargo:rustc-env=RACKLOOP_GIT_HASH={hash}");
}
