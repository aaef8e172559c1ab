//! Field firmware updates end to end: `rackctl firmware update` streams a signed image to the
//! coolant controller's ARM image in QEMU over its UART0 (bridged to a local port, as a
//! serial-to-TCP server would), the device checks it, the bootloader (`embassy-boot` over the
//! board's flash file) swaps it in, and the new image runs on trial until its control loop has
//! been healthy long enough. Five cases: an update at full load in the loop with the plant; a
//! chunk corrupted on the line and a dropped link; images the device must refuse; an image that
//! never becomes healthy; a power cut during the write. Needs `qemu-system-arm` and the images
//! `cargo xtask firmware` builds (`cargo xtask test` provides both).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::float_cmp // a count of steps, exactly zero
)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use rack_protocol::image::{self, Board, Header, qemu};
use rack_protocol::types::{DeviceKind, FirmwareVersion};
use rack_sim::run::pil::{Pil, default_image};
use rack_tests::{Bridge, Tamper};

/// A folder of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rackloop-update-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The development signing key's seed (`firmware/boards/dev-signing.key`).
fn dev_seed() -> [u8; 32] {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/boards/dev-signing.key"),
    )
    .unwrap();
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap();
    let hex = line.split_whitespace().nth(2).unwrap();
    core::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
}

/// `binary` signed as `cargo xtask firmware --sign` signs it, written into `dir`.
fn signed(
    dir: &Path,
    name: &str,
    kind: DeviceKind,
    version: FirmwareVersion,
    binary: &[u8],
    seed: &[u8; 32],
) -> PathBuf {
    let header = Header {
        kind,
        board: Board::QemuMps2An386,
        key_id: 1,
        version,
        len: 0,
    };
    let path = dir.join(name);
    std::fs::write(&path, image::sign(header, binary, seed).unwrap()).unwrap();
    path
}

/// A test's folder, the development keys in it, and the coolant controller's binary.
fn bench(name: &str) -> (PathBuf, String, Vec<u8>) {
    let dir = scratch(name);
    let keys = dev_keys(&dir);
    (dir, keys, coolant_binary())
}

/// `binary` as a coolant controller image of `version`, signed with the development key.
fn coolant(dir: &Path, name: &str, version: FirmwareVersion, binary: &[u8]) -> PathBuf {
    signed(
        dir,
        name,
        DeviceKind::CoolantController,
        version,
        binary,
        &dev_seed(),
    )
}

/// The coolant controller's binary, as its active slot holds it.
fn coolant_binary() -> Vec<u8> {
    std::fs::read(default_image("coolant-controller").with_extension("bin"))
        .expect("the image's binary: build it with `cargo xtask firmware`")
}

/// The development keys (`firmware/boards/dev.keys`) in a file only its owner reads, as
/// rackctl demands.
fn dev_keys(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("dev.keys");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware/boards/dev.keys"),
        &path,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_str().unwrap().to_owned()
}

fn rackctl(addr: &str, keys: &str, args: &[&str]) -> Output {
    rack_tests::rackctl(addr)
        .unwrap()
        .args(["--key-file", keys, "--timeout", "3000"])
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "rackctl failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap()
}

fn status(addr: &str, keys: &str) -> serde_json::Value {
    json(&rackctl(addr, keys, &["firmware", "status"]))["firmware"].clone()
}

/// The firmware's own version (the image was built with it).
fn running() -> FirmwareVersion {
    rack_node::FIRMWARE
}

/// An update of the running coolant controller at full load, in the loop with the plant: the
/// image streams over UART0 while the firmware keeps driving the row, the device swaps,
/// the new image takes the row over from where it stood and marks itself good after its
/// trial; the row stays within the steady scenario's limits throughout (supply within 0.5 K,
/// no throttling, GPUs under 78 degC) and the ARM binary agrees with the host build, which
/// resets with it, in every bit.
#[test]
fn an_update_at_full_load_swaps_in_and_the_row_stays_within_its_limits() {
    let (dir, keys, binary) = bench("full-load");
    let image = coolant(&dir, "coolant.rlfw", running(), &binary);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sim/scenarios/steady.toml");
    let mut scenario = rack_sim::scenario::Scenario::load(&path).unwrap();
    // Long enough for the upload (a few hundred chunks between the plant's steps) and the
    // trial after it; the warm-up brings the row to full load first.
    scenario.warmup_s = 120.0;
    scenario.duration_s = 300.0;
    let pil = Pil::start(&default_image("coolant-controller")).unwrap();
    let bridge = Bridge::new(&pil.host, Tamper::default()).unwrap();
    let addr = bridge.addr.clone();
    // The technician's side, while the plant runs: update, then watch the trial to its end.
    // The firmware's clock is the plant's: the update starts 10 s into the window the checks
    // measure.
    let window_s = scenario.kpi.window_start_s;
    let start_ms = ((scenario.warmup_s + window_s + 10.0) * 1000.0) as u64;
    let technician = std::thread::spawn(move || {
        while json(&rackctl(&addr, &keys, &["status"]))["identity"]["uptime_ms"]
            .as_u64()
            .unwrap()
            < start_ms
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        let update = json(&rackctl(
            &addr,
            &keys,
            &["firmware", "update", image.to_str().unwrap()],
        ));
        let deadline = Instant::now() + Duration::from_secs(300);
        let confirmed = loop {
            let s = status(&addr, &keys);
            if s["boot"] == "Confirmed" || Instant::now() > deadline {
                break s;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        (update, confirmed)
    });
    let (outcome, log) = rack_sim::run_pil_on(&scenario, pil, |_| {}).unwrap();
    let (update, confirmed) = technician.join().unwrap();
    assert_eq!(update["swapped"], true, "{update}");
    assert_eq!(update["status"]["boot"], "Trial", "{update}");
    assert_eq!(
        confirmed["boot"], "Confirmed",
        "the new image marked itself good: {confirmed}"
    );
    assert!(log.contains("bootloader: swapped slots"), "{log}");
    assert_eq!(log.matches("coolant-controller: up").count(), 2, "{log}");
    // The swap fell inside the run's measured window, so its checks cover it.
    let swap = outcome
        .run
        .markers
        .iter()
        .find(|m| m.label == "controller reset")
        .map(|m| m.t_s)
        .expect("the swap's reset is marked");
    eprintln!("swap at {swap:.1} s of {} s", scenario.duration_s);
    assert!(
        swap > 0.0 && swap < scenario.duration_s - 30.0,
        "swap at {swap} s"
    );
    let k = &outcome.summary.kpis;
    assert_eq!(
        k["pil_mismatches"], 0.0,
        "the ARM binary and the host build disagreed"
    );
    let failed: Vec<_> = outcome
        .summary
        .checks
        .iter()
        .filter(|c| !c.passed)
        .collect();
    assert!(
        failed.is_empty(),
        "the row left its limits through the update: {failed:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A chunk whose bytes are changed on the line is dropped by the device (its CRC) and sent
/// again; a link that drops mid-stream is opened again and the upload goes on from the offset
/// the device gives; each image that lands verifies.
#[test]
fn a_corrupted_chunk_is_refused_and_a_dropped_link_resumed() {
    let (dir, keys, binary) = bench("line");
    let first = coolant(&dir, "first.rlfw", running(), &binary);
    let next = FirmwareVersion {
        patch: running().patch + 1,
        ..running()
    };
    let second = coolant(&dir, "second.rlfw", next, &binary);
    let pil = Pil::start(&default_image("coolant-controller")).unwrap();
    let rejects = |addr: &str| -> u64 {
        let s = json(&rackctl(addr, &keys, &["status"]));
        s["counters"]["frame_rejects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum()
    };
    // A bit flipped in the middle of the stream.
    let noisy = Bridge::new(
        &pil.host,
        Tamper {
            drop_after: None,
            flip_at: Some(30_001),
        },
    )
    .unwrap();
    let before = rejects(&noisy.addr);
    let update = json(&rackctl(
        &noisy.addr,
        &keys,
        &["firmware", "update", "--no-swap", first.to_str().unwrap()],
    ));
    assert_eq!(update["verified"], true, "{update}");
    assert!(
        rejects(&noisy.addr) > before,
        "the device dropped the damaged frame"
    );
    drop(noisy);
    // The link dropped a third of the way through.
    let flaky = Bridge::new(
        &pil.host,
        Tamper {
            drop_after: Some(20_000),
            flip_at: None,
        },
    )
    .unwrap();
    let update = json(&rackctl(
        &flaky.addr,
        &keys,
        &["firmware", "update", "--no-swap", second.to_str().unwrap()],
    ));
    assert_eq!(update["verified"], true, "{update}");
    assert_eq!(update["resumed"], 1, "{update}");
    let s = status(&flaky.addr, &keys);
    assert_eq!(s["slot"]["Verified"]["version"]["patch"], next.patch, "{s}");
    drop(pil);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Images the device must refuse, each with its reason, before anything of it is swapped in:
/// a bad signature (a byte of the binary changed), an image for the power controller, an older
/// version, and one signed by a key the device does not trust.
#[test]
fn a_bad_signature_a_wrong_kind_a_downgrade_and_an_unknown_key_are_refused() {
    let (dir, keys, binary) = bench("refused");
    let good = std::fs::read(coolant(&dir, "good.rlfw", running(), &binary)).unwrap();
    let mut damaged = good.clone();
    damaged[image::HEADER_LEN + 4_000] ^= 0x01;
    let damaged_path = dir.join("damaged.rlfw");
    std::fs::write(&damaged_path, &damaged).unwrap();
    let power = signed(
        &dir,
        "power.rlfw",
        DeviceKind::PowerController,
        running(),
        &binary,
        &dev_seed(),
    );
    let old = FirmwareVersion {
        major: 0,
        minor: 0,
        patch: 1,
    };
    let downgrade = coolant(&dir, "old.rlfw", old, &binary);
    let stranger = signed(
        &dir,
        "stranger.rlfw",
        DeviceKind::CoolantController,
        running(),
        &binary,
        &[9; 32],
    );
    let pil = Pil::start(&default_image("coolant-controller")).unwrap();
    let bridge = Bridge::new(&pil.host, Tamper::default()).unwrap();
    for (path, says) in [
        (damaged_path, "signature"),
        (power, "power controller"),
        (downgrade, "below this device's minimum"),
        (stranger, "signature"),
    ] {
        let out = rackctl(
            &bridge.addr,
            &keys,
            &["firmware", "update", path.to_str().unwrap()],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", path.display());
        assert!(stderr.contains(says), "{}: {stderr}", path.display());
        let s = status(&bridge.addr, &keys);
        assert_eq!(s["boot"], "Confirmed", "{s}");
        assert_eq!(s["slot"], "Empty", "nothing refused is kept: {s}");
    }
    // A raw binary is no signed image: rackctl says so before the device sees a byte.
    let raw = dir.join("raw.bin");
    std::fs::write(&raw, &binary).unwrap();
    let out = rackctl(
        &bridge.addr,
        &keys,
        &["firmware", "update", raw.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a signed image"),
        "{out:?}"
    );
    drop(pil);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An image swapped in whose control loop never runs (no plant samples reach it) never
/// marks itself good: at the next reset the bootloader puts the previous image back, which
/// says so and logs it.
#[test]
fn an_image_that_never_becomes_healthy_is_rolled_back_at_the_next_reset() {
    let (dir, keys, binary) = bench("rollback");
    let image = coolant(&dir, "coolant.rlfw", running(), &binary);
    let mut pil = Pil::start(&default_image("coolant-controller")).unwrap();
    let bridge = Bridge::new(&pil.host, Tamper::default()).unwrap();
    let update = json(&rackctl(
        &bridge.addr,
        &keys,
        &["firmware", "update", image.to_str().unwrap()],
    ));
    assert_eq!(update["status"]["boot"], "Trial", "{update}");
    std::thread::sleep(Duration::from_secs(2));
    let s = status(&bridge.addr, &keys);
    assert_eq!(
        (s["boot"].as_str(), s["healthy_s"].as_u64()),
        (Some("Trial"), Some(0)),
        "{s}"
    );
    assert_eq!(s["slot"], "Previous", "{s}");
    // The image before logged the verification and the swap just before its reset; the
    // bootloader carried them across it, and the new image logs them before its trial.
    let text = json(&rackctl(&bridge.addr, &keys, &["log"])).to_string();
    let at = |step: &str| {
        text.find(&format!("\"step\":\"{step}\""))
            .unwrap_or(usize::MAX)
    };
    assert!(
        at("Verified") < at("Swapping") && at("Swapping") < at("Trial") && at("Trial") < usize::MAX,
        "the new image's log: the update verified, the swap, the trial, in order: {text}"
    );
    // The next reset (here the reset line; on a board in the field, the trial's own limit).
    pil.reset().unwrap();
    let s = status(&bridge.addr, &keys);
    assert_eq!(s["boot"], "RolledBack", "{s}");
    let log = json(&rackctl(&bridge.addr, &keys, &["log"]));
    let text = log.to_string();
    assert!(
        text.contains("RolledBack"),
        "the event log records the rollback: {text}"
    );
    assert!(
        pil.log().matches("bootloader: swapped slots").count() >= 2,
        "{}",
        pil.log()
    );
    drop(pil);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The board's power is cut while the image is being written: the update slot holds half an
/// image, the bootloader was never asked to swap, and the old image boots from the untouched
/// active slot.
#[test]
fn a_power_cut_during_the_write_leaves_the_old_image_to_boot() {
    let (dir, keys, binary) = bench("power-cut");
    let image = coolant(&dir, "coolant.rlfw", running(), &binary);
    let flash = dir.join("board");
    let mut pil = Pil::start_in(&default_image("coolant-controller"), Some(&flash), None).unwrap();
    let bridge = Bridge::new(&pil.host, Tamper::default()).unwrap();
    let (addr, keys2, path) = (bridge.addr.clone(), keys.clone(), image.clone());
    let upload = std::thread::spawn(move || {
        rackctl(
            &addr,
            &keys2,
            // A chunk's answer slowed by a loaded machine is sent again (the default
            // retries); once the power is cut, the link is given a second to come back.
            &[
                "firmware",
                "update",
                "--reconnect-s",
                "1",
                path.to_str().unwrap(),
            ],
        )
    });
    // Cut once a good part of the image is in the update slot.
    let file = flash.join("flash.bin");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let bytes = std::fs::read(&file).unwrap();
        let dfu = &bytes[qemu::DFU.0 as usize..][..binary.len()];
        if dfu[..8_192] == binary[..8_192] {
            break;
        }
        if Instant::now() >= deadline || upload.is_finished() && dfu[..8_192] != binary[..8_192] {
            let out = upload.join().unwrap();
            panic!("the upload never reached the flash: {out:?} {}", pil.log());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    pil.power_cut();
    let out = upload.join().unwrap();
    assert!(
        !out.status.success(),
        "the upload cannot finish without the board: {out:?}"
    );
    drop(bridge);
    let before = std::fs::read(&file).unwrap();
    assert_eq!(
        &before[qemu::ACTIVE.0 as usize..][..binary.len()],
        &binary[..],
        "the active slot is untouched"
    );
    // Power comes back: the old image boots, confirmed, with nothing to swap.
    drop(pil);
    let pil = Pil::start_in(&default_image("coolant-controller"), Some(&flash), None).unwrap();
    let bridge = Bridge::new(&pil.host, Tamper::default()).unwrap();
    let s = status(&bridge.addr, &keys);
    assert_eq!(s["boot"], "Confirmed", "{s}");
    assert!(!pil.log().contains("swapped"), "{}", pil.log());
    // And the update goes through after it.
    let update = json(&rackctl(
        &bridge.addr,
        &keys,
        &["firmware", "update", "--no-swap", image.to_str().unwrap()],
    ));
    assert_eq!(update["verified"], true, "{update}");
    drop(pil);
    let _ = std::fs::remove_dir_all(&dir);
}
