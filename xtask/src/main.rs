//! `cargo xtask`: the one test command and the build chores around it.
//!
//! `cargo xtask test` runs, in order, and stops at the first failure with a non-zero exit:
//! toolchain set-up (the targets and components `rust-toolchain.toml` names, read from that
//! file and added with rustup when missing, since rustup here does not add them on a cargo
//! call; then checked again, so a component that is still absent stops the run by name),
//! `cargo fmt --check`, `cargo clippy -D warnings` (host workspace and each board), every host
//! test of the workspace, and a build of every `no_std` crate for the firmware target, which
//! proves they need no `std`.
//!
//! It runs before anything else is built, so it depends on one small crate only: `toml`, to
//! read the toolchain file (the one list of targets and components).
#![allow(clippy::print_stdout)] // printing what it does is this program's job

use std::process::{Command, ExitCode};
use std::time::Instant;

mod sign;

/// The firmware target every `no_std` crate must build for (STM32G4 and QEMU's mps2-an386).
/// `rust-toolchain.toml` must name it (checked by [`setup`]).
const FIRMWARE_TARGET: &str = "thumbv7em-none-eabihf";
/// The toolchain file: the one list of the targets and components every build needs.
const TOOLCHAIN_FILE: &str = "rust-toolchain.toml";
/// Crates that must stay `no_std`: the firmware's own and what it depends on.
const NO_STD_CRATES: &[&str] = &["rack-protocol", "rack-control", "rack-node"];

fn main() -> ExitCode {
    // Paths below are relative to the repository root, wherever cargo xtask is run from.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if let Err(e) = std::env::set_current_dir(&root) {
        eprintln!("xtask: cannot enter {}: {e}", root.display());
        return ExitCode::FAILURE;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("setup") => setup(),
        Some("firmware") => sign::signing_key(args.get(1..).unwrap_or_default())
            .and_then(|key| setup().and_then(|()| firmware()).map(|()| key))
            .and_then(|key| key.map_or(Ok(()), |key| sign::sign_images(&key).map(drop))),
        Some("firmware-key") => sign::new_signing_key(args.get(1).map(String::as_str)),
        Some("mac-cost") => setup()
            .and_then(|()| ensure_qemu())
            .and_then(|()| mac_cost()),
        Some("fuzz") => fuzz(args.get(1).map(String::as_str)),
        Some("qemu") => ensure_qemu().and_then(|()| bench_board(args.get(1..).unwrap_or_default())),
        None | Some("help" | "--help" | "-h") => {
            print_help();
            Ok(())
        }
        Some(other) => Err(format!(
            "unknown xtask command `{other}`; the commands are: test, firmware, firmware-key, qemu, mac-cost, fuzz, setup, help"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    println!(
        "cargo xtask <command>\n\n\
         commands:\n  \
         test      every check CI runs: fmt, clippy, firmware images and their size budget, host\n            \
         tests (with processor-in-the-loop runs in QEMU), no_std builds for {FIRMWARE_TARGET}\n  \
         firmware [--sign KEY]  build every board image in release and check it against its\n            \
         budget; with --sign, also write each as a signed update image (IMAGE.rlfw)\n  \
         firmware-key FILE  make a new ed25519 firmware signing key in FILE (mode 600)\n  \
         qemu IMAGE [--port PORT] [--flash DIR]  a QEMU board on the bench: IMAGE\n            \
         (coolant-controller or power-controller) booted by its bootloader from the board's\n            \
         flash in DIR (programmed with IMAGE when DIR has none; default target/bench/IMAGE),\n            \
         its UART0 on 127.0.0.1:PORT (default 7800) for rackctl, no plant on UART1\n  \
         mac-cost  what a signed request costs the Cortex-M4, in instructions (QEMU, -icount)\n  \
         fuzz [RUNS]  the fuzz targets (decoder, coolant node, power node), RUNS executions each\n            \
         (default 10,000,000); installs cargo-fuzz when missing\n  \
         setup  add the rustup targets and components the project needs\n  \
         help   this text"
    );
}

/// The README's test command.
fn test() -> Result<(), String> {
    let started = Instant::now();
    setup()?;
    let cargo = cargo();
    step("format", &cargo, &["fmt", "--all", "--", "--check"])?;
    step_in(
        BOARDS_DIR,
        "format (boards)",
        &cargo,
        &["fmt", "--all", "--", "--check"],
    )?;
    firmware()?;
    // Every image signed with the development key, and each signed image read back as a
    // device reads one.
    sign::check_signed_images(&sign::sign_images(&sign::read_signing_key(
        sign::DEV_SIGNING_KEY,
    )?)?)?;
    // The boards' workspace has the host's lints; each board from its own folder, as built.
    for (board, dir, with) in BOARDS
        .iter()
        .map(|(board, dir, _)| (*board, *dir, built_with(board)))
        .chain(
            BOOTLOADERS
                .iter()
                .filter(|(_, dir, _, _)| !built_with_a_board(dir))
                .map(|(board, dir, _, _)| (*board, *dir, Vec::new())),
        )
    {
        let mut args = vec!["clippy", "--release", "--locked"];
        args.extend(with);
        args.extend(["--", "-D", "warnings"]);
        step_in(dir, &format!("clippy ({board})"), &cargo, &args)?;
    }
    ensure_qemu()?;
    ensure_gateway_tools()?;
    ensure_mpi()?;
    step(
        "clippy (racksim with MPI)",
        &cargo,
        &[
            "clippy",
            "--package",
            "rack-sim",
            "--features",
            "mpi",
            "--all-targets",
            "--locked",
            "--target-dir",
            MPI_TARGET_DIR,
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step(
        "clippy",
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step(
        "host tests",
        &cargo,
        &["test", "--workspace", "--locked", "--no-fail-fast"],
    )?;
    stack_report()?;
    step(
        "protocol tests as the firmware builds it (feature device-end)",
        &cargo,
        &[
            "test",
            "--locked",
            "--package",
            "rack-protocol",
            "--features",
            "device-end",
            "--lib",
        ],
    )?;
    let mut build = vec![
        "build",
        "--locked",
        "--release",
        "--target",
        FIRMWARE_TARGET,
    ];
    for krate in NO_STD_CRATES {
        build.extend(["--package", krate]);
    }
    step(
        &format!("no_std build for {FIRMWARE_TARGET}"),
        &cargo,
        &build,
    )?;
    println!(
        "xtask: all checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Flash budget of an image: it must fit the smallest STM32G4 (128 KiB) twice.
const FLASH_BUDGET: u64 = 64 * 1024;
/// Static RAM budget of an image (the smallest STM32G4 has 32 KiB).
const RAM_BUDGET: u64 = 24 * 1024;
/// RAM of the smallest target, for the stack headroom column.
const RAM_SMALLEST: u64 = 32 * 1024;
/// The board images and where they are built.
const IMAGES: &[&str] = &["coolant-controller", "power-controller"];
const BOARDS_DIR: &str = "firmware/boards";
/// Each board: its folder (built from there, so that its `.cargo/config.toml` applies) and
/// where its images land. The Nucleo has its own target folder: its images have the same
/// names as QEMU's.
const BOARDS: &[(&str, &str, &str)] = &[
    (
        "qemu-mps2-an386",
        "firmware/boards/qemu-mps2-an386",
        "target/boards/thumbv7em-none-eabihf/release",
    ),
    (
        "nucleo-g474re",
        "firmware/boards/nucleo-g474re",
        "target/nucleo/thumbv7em-none-eabihf/release",
    ),
];

/// Stack left unused at the measured peak, at least (the budget), B.
const STACK_MARGIN: u64 = 4 * 1024;

/// Where the processor-in-the-loop runs note the stack peaks a QEMU image reported.
fn stack_peaks_file(image: &str) -> String {
    format!("target/boards/thumbv7em-none-eabihf/release/{image}.stack-peaks")
}

/// The QEMU images' stack peaks, measured by painting in the processor-in-the-loop runs the
/// host tests made: each must leave `STACK_MARGIN` of its budget (the smallest STM32G4's RAM
/// less the image's static RAM).
fn stack_report() -> Result<(), String> {
    println!("xtask: stack peaks measured in QEMU (painting; budget: 32 KiB less static RAM)");
    let mut short = Vec::new();
    for image in IMAGES {
        let text = std::fs::read_to_string(stack_peaks_file(image)).map_err(|e| {
            format!(
                "qemu-mps2-an386/{image}: no processor-in-the-loop run reported its stack ({e})"
            )
        })?;
        let runs: Vec<(u64, u64)> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
            })
            .collect();
        let (peak, budget) = runs.iter().copied().max().ok_or_else(|| {
            format!(
                "qemu-mps2-an386/{image}: no stack peak in {}",
                stack_peaks_file(image)
            )
        })?;
        let left = budget.saturating_sub(peak);
        println!(
            "  qemu-mps2-an386/{image:<19} peak {peak:>6} B of {budget:>6} B over {} runs: {left} B left",
            runs.len()
        );
        if left < STACK_MARGIN {
            short.push(format!(
                "{image}: {left} B of stack left at its peak, under {STACK_MARGIN} B"
            ));
        }
    }
    if short.is_empty() {
        Ok(())
    } else {
        Err(short.join("; "))
    }
}

/// flip-link, the board images' linker (firmware/boards/.cargo/config.toml): it puts the
/// stack below the static RAM, so an overflow faults at the RAM's edge instead of silently
/// overwriting the statics. Installed with cargo when it is not on the PATH.
fn ensure_flip_link() -> Result<(), String> {
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("flip-link").is_file())
    });
    if on_path {
        return Ok(());
    }
    step(
        "install flip-link (the board images' linker)",
        &cargo(),
        &["install", "flip-link", "--locked", "--version", "0.1.12"],
    )
}

/// Builds every board image and checks it against its budget.
fn firmware() -> Result<(), String> {
    ensure_flip_link()?;
    let cargo = cargo();
    // A rebuilt image's stack is measured afresh.
    for image in IMAGES {
        let _ = std::fs::remove_file(stack_peaks_file(image));
    }
    // One board at a time, from its own folder, so its .cargo/config.toml (target, target
    // folder, linker script, runner) applies and no board's features leak into another's
    // build (embassy-stm32 turns on cortex-m-rt's `device` vector table).
    for (board, dir, _) in BOARDS {
        let mut args = vec!["build", "--release", "--locked"];
        args.extend(built_with(board));
        step_in(dir, &format!("{board} images (release)"), &cargo, &args)?;
    }
    for (board, dir, _, _) in BOOTLOADERS
        .iter()
        .filter(|(_, dir, _, _)| !built_with_a_board(dir))
    {
        step_in(
            dir,
            &format!("{board} (release)"),
            &cargo,
            &["build", "--release", "--locked"],
        )?;
    }
    // Each image's flash contents from its vector table on: what a slot holds, what
    // `--sign` signs and what the QEMU runs program into the board's flash.
    let objcopy = llvm_tool("llvm-objcopy")?;
    for (_, _, out) in BOARDS {
        for name in IMAGES {
            let elf = format!("{out}/{name}");
            step(
                "objcopy",
                &objcopy,
                &["-O", "binary", &elf, &format!("{elf}.bin")],
            )?;
        }
    }
    let size_tool = llvm_tool("llvm-size")?;
    println!(
        "xtask: image sizes (budget: flash {} KiB an image, a bootloader its region; static RAM {} KiB)",
        FLASH_BUDGET / 1024,
        RAM_BUDGET / 1024
    );
    println!(
        "  {:<36} {:>10} {:>14} {:>22}",
        "image", "flash (B)", "static RAM (B)", "stack headroom (B)*"
    );
    let mut over = Vec::new();
    // Each image against the slot budget; each bootloader against its own region.
    let images = BOARDS.iter().flat_map(|(board, _, out)| {
        IMAGES.iter().map(move |image| {
            (
                format!("{board}/{image}"),
                format!("{out}/{image}"),
                FLASH_BUDGET,
            )
        })
    });
    let bootloaders = BOOTLOADERS.iter().map(|(board, _, out, region)| {
        (
            board.replace(" bootloader", "/bootloader"),
            format!("{out}/bootloader"),
            *region,
        )
    });
    for (image, path, flash_budget) in images.chain(bootloaders) {
        let sections = output(&size_tool, &["-A", &path])?;
        let size = |name: &str| -> u64 {
            sections
                .lines()
                .filter(|l| l.split_whitespace().next() == Some(name))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        };
        let flash = size(".vector_table") + size(".text") + size(".rodata") + size(".data");
        let ram = size(".data") + size(".bss") + size(".uninit");
        println!(
            "  {image:<36} {flash:>10} {ram:>14} {:>22}",
            RAM_SMALLEST.saturating_sub(ram)
        );
        if flash > flash_budget || ram > RAM_BUDGET {
            over.push(format!("{image}: flash {flash} B, static RAM {ram} B"));
        }
    }
    println!("  * RAM of the smallest STM32G4 (32 KiB) less static RAM: what the stack may use");
    print_layout();
    check_nucleo_memory_x(std::path::Path::new("."))?;
    if over.is_empty() {
        Ok(())
    } else {
        Err(format!("over budget: {}", over.join("; ")))
    }
}

/// The QEMU board's bootloader crate (built from its folder, as the boards are).
const BOOTLOADER_DIR: &str = "firmware/boards/qemu-mps2-an386-boot";
/// The Nucleo's bootloader crate.
const NUCLEO_BOOTLOADER_DIR: &str = "firmware/boards/nucleo-g474re-boot";

/// The packages a board's folder builds and lints together: the Nucleo's images with its
/// bootloader, so that cargo compiles embassy-stm32 once for both (their features unified;
/// the bootloader does not start the HAL, so the images' time driver stays idle in it).
/// QEMU's bootloader shares no such crate with its images and is built on its own.
fn built_with(board: &str) -> Vec<&'static str> {
    if board == "nucleo-g474re" {
        vec!["-p", "nucleo-g474re", "-p", "nucleo-g474re-boot"]
    } else {
        Vec::new()
    }
}

/// Whether a bootloader's folder is built with its board's images ([`built_with`]).
fn built_with_a_board(dir: &str) -> bool {
    dir == NUCLEO_BOOTLOADER_DIR
}

/// Each board's bootloader: its name, its folder, where it is built, and its flash region
/// (QEMU's: the code memory below the images; the Nucleo's: `image::nucleo::BOOTLOADER`).
const BOOTLOADERS: &[(&str, &str, &str, u64)] = &[
    (
        "qemu-mps2-an386 bootloader",
        BOOTLOADER_DIR,
        "target/boards/thumbv7em-none-eabihf/release",
        rack_protocol::image::qemu::APP_BASE as u64,
    ),
    (
        "nucleo-g474re bootloader",
        NUCLEO_BOOTLOADER_DIR,
        "target/nucleo/thumbv7em-none-eabihf/release",
        rack_protocol::image::nucleo::BOOTLOADER.1 as u64,
    ),
];

/// The QEMU board's memory and flash layout (`rack_protocol::image::qemu`).
fn print_layout() {
    use rack_protocol::image::qemu;
    let kib = |n: u32| f64::from(n) / 1024.0;
    println!("xtask: qemu-mps2-an386 layout (code memory; the flash is flash.bin beside QEMU)");
    println!("  {:<28} {:>12} {:>10}", "region", "at", "KiB");
    for (name, at, len) in [
        ("bootloader (code memory)", 0, qemu::APP_BASE),
        (
            "running image (code memory)",
            qemu::APP_BASE,
            qemu::ACTIVE.1,
        ),
        ("bootloader state (flash)", qemu::STATE.0, qemu::STATE.1),
        ("active slot (flash)", qemu::ACTIVE.0, qemu::ACTIVE.1),
        ("update slot (flash)", qemu::DFU.0, qemu::DFU.1),
    ] {
        println!("  {name:<28} {at:>#12x} {:>10.1}", kib(len));
    }
    use rack_protocol::image::nucleo;
    println!("xtask: nucleo-g474re layout (flash in dual-bank mode, 2 KiB pages)");
    println!("  {:<28} {:>12} {:>10}", "region", "at", "KiB");
    for (name, (at, len)) in [
        ("bootloader (bank 1)", nucleo::BOOTLOADER),
        ("active slot (bank 1)", nucleo::ACTIVE),
        ("update slot (bank 2)", nucleo::DFU),
        ("bootloader state (bank 2)", nucleo::STATE),
        ("settings (bank 2)", nucleo::SETTINGS),
    ] {
        println!(
            "  {name:<28} {:>#12x} {:>10.1}",
            nucleo::FLASH_BASE + at,
            kib(len)
        );
    }
}

/// The Nucleo's two `memory.x` files say what `rack_protocol::image::nucleo` says: the images
/// linked at the active slot with the RAM below the bootloader's, the bootloader at the flash's
/// start with the RAM's top (less the services word).
fn check_nucleo_memory_x(root: &std::path::Path) -> Result<(), String> {
    use rack_protocol::image::nucleo;
    let expected = [
        (
            "firmware/boards/nucleo-g474re/memory.x",
            (nucleo::FLASH_BASE + nucleo::ACTIVE.0, nucleo::ACTIVE.1),
            (nucleo::RAM_BASE, nucleo::BOOT_RAM.0),
        ),
        (
            "firmware/boards/nucleo-g474re-boot/memory.x",
            (
                nucleo::FLASH_BASE + nucleo::BOOTLOADER.0,
                nucleo::BOOTLOADER.1,
            ),
            (
                nucleo::RAM_BASE + nucleo::BOOT_RAM.0,
                nucleo::SERVICES_AT - (nucleo::RAM_BASE + nucleo::BOOT_RAM.0),
            ),
        ),
    ];
    for (path, flash, ram) in expected {
        let text = std::fs::read_to_string(root.join(path)).map_err(|e| format!("{path}: {e}"))?;
        for (region, want) in [("FLASH", flash), ("RAM", ram)] {
            let got = memory_region(&text, region)
                .ok_or_else(|| format!("{path}: no {region} region with ORIGIN and LENGTH"))?;
            if got != want {
                return Err(format!(
                    "{path}: {region} is {:#x}+{:#x}, rack_protocol::image::nucleo says {:#x}+{:#x}",
                    got.0, got.1, want.0, want.1
                ));
            }
        }
    }
    Ok(())
}

/// `region`'s ORIGIN and LENGTH in a `memory.x` (`ORIGIN = 0x...`, `LENGTH = N[K] [- M]`).
fn memory_region(text: &str, region: &str) -> Option<(u32, u32)> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(region) && l.contains("ORIGIN"))?;
    let field = |name: &str| -> Option<&str> {
        let rest = line.split(name).nth(1)?.trim_start().strip_prefix('=')?;
        Some(rest.split(',').next()?.trim())
    };
    let origin = u32::from_str_radix(field("ORIGIN")?.strip_prefix("0x")?, 16).ok()?;
    let number = |t: &str| -> Option<u32> {
        let t = t.trim();
        match t.strip_suffix('K') {
            Some(k) => k.trim().parse::<u32>().ok()?.checked_mul(1024),
            None => t.parse().ok(),
        }
    };
    let length = field("LENGTH")?;
    let length = match length.split_once('-') {
        Some((a, b)) => number(a)?.checked_sub(number(b)?)?,
        None => number(length)?,
    };
    Some((origin, length))
}

/// The path of one of the toolchain's `llvm-tools` (`llvm-size`, `llvm-objcopy`).
fn llvm_tool(name: &str) -> Result<String, String> {
    let sysroot = output("rustc", &["--print", "sysroot"])?;
    let host = output("rustc", &["--print", "host-tuple"])
        .unwrap_or_else(|_| "x86_64-unknown-linux-gnu".into());
    Ok(format!(
        "{}/lib/rustlib/{}/bin/{name}",
        sysroot.trim(),
        host.trim()
    ))
}

/// `cargo xtask qemu IMAGE [--port PORT] [--flash DIR]`: a QEMU board on the bench, booted by
/// its bootloader from a flash that lasts from one run to the next (a power cycle), its UART0
/// a TCP server for rackctl (as a serial-to-TCP server would offer a board's port).
fn bench_board(args: &[String]) -> Result<(), String> {
    let usage =
        "qemu IMAGE [--port PORT] [--flash DIR], IMAGE coolant-controller or power-controller";
    let (image, rest) = args
        .split_first()
        .ok_or_else(|| format!("usage: cargo xtask {usage}"))?;
    if !IMAGES.contains(&image.as_str()) {
        return Err(format!("`{image}` is no image: {usage}"));
    }
    let mut port = 7800u16;
    let mut flash = format!("target/bench/{image}");
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value: {usage}"))?;
        match flag.as_str() {
            "--port" => {
                port = value
                    .parse()
                    .map_err(|_| format!("--port {value}: a TCP port 1..=65535"))?;
            }
            "--flash" => flash.clone_from(value),
            _ => return Err(format!("unknown flag `{flag}`: {usage}")),
        }
    }
    let out = BOARDS.first().map_or("", |(_, _, out)| *out);
    let missing = |p: &str| format!("{p} is missing: build the images with `cargo xtask firmware`");
    let bootloader = std::fs::canonicalize(format!("{out}/bootloader"))
        .map_err(|_| missing(&format!("{out}/bootloader")))?;
    std::fs::create_dir_all(&flash).map_err(|e| format!("{flash}: {e}"))?;
    let file = format!("{flash}/flash.bin");
    if std::path::Path::new(&file).exists() {
        println!("xtask: the board's flash as it was left: {file}");
    } else {
        let bin = format!("{out}/{image}.bin");
        let binary = std::fs::read(&bin).map_err(|_| missing(&bin))?;
        let mut bytes = vec![0u8; rack_protocol::image::qemu::FLASH_LEN as usize];
        rack_protocol::image::qemu::program(&mut bytes, &binary)
            .map_err(|e| format!("{bin}: {e}"))?;
        std::fs::write(&file, bytes).map_err(|e| format!("{file}: {e}"))?;
        println!("xtask: programmed {file} with {bin} (the active slot), as a factory would");
    }
    println!(
        "xtask: {image} on QEMU; UART0 on 127.0.0.1:{port} (rackctl --connect 127.0.0.1:{port} status); Ctrl-C ends it"
    );
    let status = Command::new("qemu-system-arm")
        .current_dir(&flash)
        .args([
            "-machine",
            "mps2-an386",
            "-cpu",
            "cortex-m4",
            "-nographic",
            "-monitor",
            "none",
        ])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(&bootloader)
        .args([
            "-serial",
            &format!("tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on"),
        ])
        .args(["-serial", "null"])
        .status()
        .map_err(|e| format!("qemu-system-arm: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("qemu-system-arm ended: {status}"))
    }
}

/// Builds the `mac_cost` example for QEMU's Cortex-M4 and runs it with `-icount shift=0`,
/// booted as the images are: the bootloader loads it from a flash file programmed with it.
fn mac_cost() -> Result<(), String> {
    ensure_flip_link()?;
    let (_, dir, out) = BOARDS
        .first()
        .ok_or_else(|| "no QEMU board in BOARDS".to_owned())?;
    step_in(
        dir,
        "mac_cost example (release)",
        &cargo(),
        &["build", "--release", "--locked", "--example", "mac_cost"],
    )?;
    step_in(
        BOOTLOADER_DIR,
        "qemu-mps2-an386 bootloader (release)",
        &cargo(),
        &["build", "--release", "--locked"],
    )?;
    let image = format!("{out}/examples/mac_cost");
    step(
        "objcopy",
        &llvm_tool("llvm-objcopy")?,
        &["-O", "binary", &image, &format!("{image}.bin")],
    )?;
    let binary = std::fs::read(format!("{image}.bin")).map_err(|e| format!("{image}.bin: {e}"))?;
    let mut flash = vec![0u8; rack_protocol::image::qemu::FLASH_LEN as usize];
    rack_protocol::image::qemu::program(&mut flash, &binary)
        .map_err(|e| format!("{image}.bin: {e}"))?;
    let run_dir = format!("{out}/examples/mac_cost.run");
    std::fs::create_dir_all(&run_dir).map_err(|e| format!("{run_dir}: {e}"))?;
    std::fs::write(format!("{run_dir}/flash.bin"), flash).map_err(|e| format!("{run_dir}: {e}"))?;
    let bootloader = std::fs::canonicalize(format!("{out}/bootloader"))
        .map_err(|e| format!("{out}/bootloader: {e}"))?;
    let run = Command::new("timeout")
        .current_dir(&run_dir)
        .args([
            "120",
            "qemu-system-arm",
            "-machine",
            "mps2-an386",
            "-cpu",
            "cortex-m4",
        ])
        .args(["-nographic", "-monitor", "none", "-icount", "shift=0"])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(&bootloader)
        .output()
        .map_err(|e| format!("qemu-system-arm: {e}"))?;
    let text = String::from_utf8_lossy(&run.stdout);
    print!("{text}");
    if run.status.success() && text.contains("mac-cost:") {
        Ok(())
    } else {
        Err(format!(
            "the mac_cost example failed ({}): {}",
            run.status,
            String::from_utf8_lossy(&run.stderr)
        ))
    }
}

/// Runs each fuzz target for `runs` executions (cargo-fuzz on this toolchain: its `-Z` flags
/// are allowed by `RUSTC_BOOTSTRAP=1`, as no nightly toolchain can be installed here).
fn fuzz(runs: Option<&str>) -> Result<(), String> {
    let runs: u64 = runs.map_or(Ok(10_000_000), str::parse).map_err(|e| {
        format!("fuzz RUNS must be a whole number of executions (e.g. 10000000): {e}")
    })?;
    let has_fuzz = Command::new(cargo())
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        step(
            "install cargo-fuzz",
            &cargo(),
            &["install", "cargo-fuzz", "--locked", "--version", "0.13.2"],
        )?;
    }
    for target in ["decoder", "coolant_node", "power_node"] {
        let started = Instant::now();
        let runs_arg = format!("-runs={runs}");
        let status = Command::new(cargo())
            .current_dir("protocol")
            .env("RUSTC_BOOTSTRAP", "1")
            .args([
                "fuzz",
                "run",
                "--release",
                "--sanitizer",
                "none",
                target,
                "--",
            ])
            .args([runs_arg.as_str(), "-print_final_stats=1"])
            .status()
            .map_err(|e| format!("cargo fuzz: {e}"))?;
        if !status.success() {
            return Err(format!(
                "fuzz target {target} failed ({status}): see its crash file"
            ));
        }
        println!(
            "xtask: ok fuzz {target}: {runs} executions in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Makes sure `qemu-system-arm` is there for the processor-in-the-loop tests: installs it
/// with apt-get when running as root, otherwise stops with the command to run.
fn ensure_qemu() -> Result<(), String> {
    ensure_apt(&[("qemu-system-arm", "qemu-system-arm")])
}

/// Where `racksim` with the `mpi` feature is built (its own folder: the threads-only build
/// beside it is not rebuilt each time).
const MPI_TARGET_DIR: &str = "target/mpi";

/// What `racksim campus` on MPI builds and runs with: Open MPI (`mpirun`, and `mpicc` with
/// the headers) and libclang, which rsmpi's bindings are generated with.
fn ensure_mpi() -> Result<(), String> {
    ensure_apt(&[("mpirun", "openmpi-bin"), ("mpicc", "libopenmpi-dev")])?;
    let has_libclang = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ]
    .iter()
    .filter_map(|dir| std::fs::read_dir(dir).ok())
    .flatten()
    .filter_map(Result::ok)
    .any(|e| {
        // libclang itself (`libclang.so`, `libclang-14.so.1`), not `libclang-cpp`.
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with("libclang.so")
            || name
                .strip_prefix("libclang-")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    });
    if has_libclang {
        Ok(())
    } else {
        apt_install(&["libclang-dev"])
    }
}

/// Makes sure the programs (each with the Debian package that has it) are there: installs the
/// missing ones with apt-get when running as root, otherwise stops with the command to run.
fn ensure_apt(programs: &[(&str, &str)]) -> Result<(), String> {
    let missing: Vec<&str> = programs
        .iter()
        // There if it starts (mbpoll answers `--version` with a failure status).
        .filter(|(program, _)| Command::new(program).arg("--version").output().is_err())
        .map(|(_, package)| *package)
        .collect();
    apt_install(&missing)
}

/// Installs Debian's `packages` (none: nothing to do) when running as root, otherwise stops
/// with the command to run.
fn apt_install(missing: &[&str]) -> Result<(), String> {
    if missing.is_empty() {
        return Ok(());
    }
    let root = output("id", &["-u"]).is_ok_and(|u| u.trim() == "0");
    if !root {
        return Err(format!(
            "{} missing; install with: sudo apt-get install -y --no-install-recommends {}",
            missing.join(", "),
            missing.join(" ")
        ));
    }
    step("apt-get update", "apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(missing);
    step(&format!("install {}", missing.join(", ")), "apt-get", &args)
}

/// What the gateway tests check it with from Python, pinned, in `target/venv`: pymodbus (a
/// Modbus client) and DMTF's Redfish service and interoperability validators, each with the
/// module that shows it is there.
const PYTHON_TOOLS: [(&str, &str); 3] = [
    ("pymodbus==3.16.1", "pymodbus"),
    (
        "redfish-service-validator==3.1.8",
        "redfish_service_validator",
    ),
    (
        "redfish-interop-validator==3.0.4",
        "redfish_interop_validator",
    ),
];

/// What `rackgw`'s tests check it with, as the field does: Prometheus's `promtool`, `mbpoll`
/// (Debian's packages) and the Python tools above in a virtual environment of the project's
/// (`target/venv`).
fn ensure_gateway_tools() -> Result<(), String> {
    ensure_apt(&[("promtool", "prometheus"), ("mbpoll", "mbpoll")])?;
    let python = "target/venv/bin/python";
    let has = |module: &str| {
        Command::new(python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = PYTHON_TOOLS
        .iter()
        .filter(|(_, module)| !has(module))
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !std::path::Path::new(python).exists() {
        step("python venv", "python3", &["-m", "venv", "target/venv"])?;
    }
    let mut args = vec!["install", "-q", "--disable-pip-version-check"];
    args.extend(&missing);
    step(
        &format!("install {}", missing.join(", ")),
        "target/venv/bin/pip",
        &args,
    )
}

/// What `rust-toolchain.toml` asks for beyond the channel.
#[derive(Debug, PartialEq)]
struct Toolchain {
    /// Components, as rustup names them (`llvm-tools`, `clippy`, ...).
    components: Vec<String>,
    /// Targets (`thumbv7em-none-eabihf`, ...).
    targets: Vec<String>,
}

/// Reads the `[toolchain]` table's `components` and `targets` from the toolchain file's text.
fn parse_toolchain(text: &str) -> Result<Toolchain, String> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| format!("{TOOLCHAIN_FILE}: {}", e.message()))?;
    let toolchain = table
        .get("toolchain")
        .and_then(toml::Value::as_table)
        .ok_or_else(|| format!("{TOOLCHAIN_FILE}: no [toolchain] table"))?;
    let list = |key: &str| -> Result<Vec<String>, String> {
        let Some(value) = toolchain.get(key) else {
            return Ok(Vec::new());
        };
        value
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| format!("{TOOLCHAIN_FILE}: toolchain.{key} must be a list of names"))
    };
    Ok(Toolchain {
        components: list("components")?,
        targets: list("targets")?,
    })
}

/// Whether `rustup component list --installed` output lists `component`: rustup prints a
/// host-specific component as `name-HOST` (`llvm-tools-x86_64-unknown-linux-gnu`) and a
/// host-independent one as `name` (`rust-src`). Comparing whole names matters: `llvm-tools`
/// starts with `llvm` and contains dashes, so a prefix up to the first `-` matches nothing.
fn component_listed(installed: &str, component: &str, host: &str) -> bool {
    installed.lines().map(str::trim).any(|line| {
        line == component
            || line
                .strip_prefix(component)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| rest == host)
    })
}

/// Whether `rustup target list --installed` output lists `target`.
fn target_listed(installed: &str, target: &str) -> bool {
    installed.lines().any(|line| line.trim() == target)
}

/// Adds every target and component the toolchain file names that the pinned toolchain lacks,
/// then checks again: one still missing (rustup said yes but did not add it, or added another
/// name) stops here, named, instead of failing later as a tool that cannot be started.
fn setup() -> Result<(), String> {
    let text = std::fs::read_to_string(TOOLCHAIN_FILE)
        .map_err(|e| format!("cannot read {TOOLCHAIN_FILE}: {e}"))?;
    let wanted = parse_toolchain(&text)?;
    if !wanted.targets.iter().any(|t| t == FIRMWARE_TARGET) {
        return Err(format!(
            "{TOOLCHAIN_FILE} must list the firmware target {FIRMWARE_TARGET} in toolchain.targets"
        ));
    }
    let host = output("rustc", &["--print", "host-tuple"])?;
    let host = host.trim();
    let installed = output("rustup", &["target", "list", "--installed"])?;
    for target in wanted
        .targets
        .iter()
        .filter(|t| !target_listed(&installed, t))
    {
        step(
            &format!("add target {target}"),
            "rustup",
            &["target", "add", target],
        )?;
    }
    let installed = output("rustup", &["component", "list", "--installed"])?;
    for component in wanted
        .components
        .iter()
        .filter(|c| !component_listed(&installed, c, host))
    {
        step(
            &format!("add component {component}"),
            "rustup",
            &["component", "add", component],
        )?;
    }
    let targets = output("rustup", &["target", "list", "--installed"])?;
    let components = output("rustup", &["component", "list", "--installed"])?;
    let missing: Vec<&str> = wanted
        .targets
        .iter()
        .filter(|t| !target_listed(&targets, t))
        .chain(
            wanted
                .components
                .iter()
                .filter(|c| !component_listed(&components, c, host)),
        )
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        println!(
            "xtask: ok toolchain: targets {} and components {} present",
            wanted.targets.join(", "),
            wanted.components.join(", ")
        );
        Ok(())
    } else {
        Err(format!(
            "{TOOLCHAIN_FILE} names {} but the toolchain still lacks it after rustup added it; add it by hand with `rustup component add` or `rustup target add`",
            missing.join(", ")
        ))
    }
}

/// The cargo that runs this xtask (so the pinned toolchain is used throughout).
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs one named step, printing what it does and how long it took.
fn step(name: &str, program: &str, args: &[&str]) -> Result<(), String> {
    step_in(".", name, program, args)
}

/// [`step`] in the folder `dir`.
fn step_in(dir: &str, name: &str, program: &str, args: &[&str]) -> Result<(), String> {
    println!("xtask: == {name}: {program} {} (in {dir})", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .map_err(|error| format!("{name}: could not start `{program}`: {error}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if status.success() {
        println!("xtask: ok {name} ({seconds:.1} s)");
        Ok(())
    } else {
        Err(format!("{name} failed ({status}) after {seconds:.1} s"))
    }
}

/// Runs a program and returns its standard output.
fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| format!("could not start `{program}`: {error}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // a test fails by panicking
mod tests {
    use super::*;

    const HOST: &str = "x86_64-unknown-linux-gnu";

    #[test]
    fn the_toolchain_file_of_this_repository_is_read() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rust-toolchain.toml"),
        )
        .unwrap_or_default();
        let toolchain = parse_toolchain(&text).unwrap_or_else(|e| panic!("{e}"));
        for component in ["clippy", "rustfmt", "llvm-tools"] {
            assert!(
                toolchain.components.iter().any(|c| c == component),
                "{component} missing from {:?}",
                toolchain.components
            );
        }
        assert_eq!(toolchain.targets, [FIRMWARE_TARGET]);
    }

    #[test]
    fn a_component_is_listed_by_its_whole_name_with_or_without_the_host() {
        let installed =
            format!("cargo-{HOST}\nclippy-{HOST}\nllvm-tools-{HOST}\nrust-src\nrustfmt-{HOST}\n");
        for present in ["clippy", "llvm-tools", "rust-src", "rustfmt", "cargo"] {
            assert!(component_listed(&installed, present, HOST), "{present}");
        }
        // A prefix, another component's name, or another host's build is not the component.
        let without = format!("cargo-{HOST}\nllvm-tools-aarch64-unknown-linux-gnu\nrustc-{HOST}\n");
        for absent in [
            "llvm-tools",
            "llvm",
            "rust",
            "clippy",
            "rustfmt",
            "rust-std",
        ] {
            assert!(!component_listed(&without, absent, HOST), "{absent}");
        }
        // The check the old xtask made (`split('-').next()`) took `llvm` for the name.
        assert!(!component_listed(
            &format!("llvm-{HOST}\n"),
            "llvm-tools",
            HOST
        ));
    }

    #[test]
    fn a_target_is_listed_only_by_its_exact_name() {
        let installed = "thumbv7em-none-eabi\nx86_64-unknown-linux-gnu\n";
        assert!(!target_listed(installed, FIRMWARE_TARGET));
        assert!(target_listed(installed, "thumbv7em-none-eabi"));
    }

    #[test]
    fn a_toolchain_file_with_a_bad_list_is_refused_by_name() {
        let e = parse_toolchain("[toolchain]\ncomponents = \"clippy\"\n").unwrap_err();
        assert!(e.contains("toolchain.components"), "{e}");
        let e = parse_toolchain("channel = \"1.95.0\"\n").unwrap_err();
        assert!(e.contains("[toolchain]"), "{e}");
        let ok = parse_toolchain("[toolchain]\nchannel = \"1.95.0\"\n").unwrap();
        assert!(ok.components.is_empty() && ok.targets.is_empty());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod memory_x_tests {
    use super::{check_nucleo_memory_x, memory_region};

    #[test]
    fn memory_x_regions_are_read_with_their_arithmetic() {
        let text = "MEMORY\n{\n  FLASH : ORIGIN = 0x08008000, LENGTH = 64K\n  RAM   : ORIGIN = 0x2001C000, LENGTH = 16K - 16\n}\n";
        assert_eq!(memory_region(text, "FLASH"), Some((0x0800_8000, 64 * 1024)));
        assert_eq!(
            memory_region(text, "RAM"),
            Some((0x2001_c000, 16 * 1024 - 16))
        );
        assert_eq!(memory_region(text, "CCMRAM"), None);
        assert_eq!(
            memory_region("FLASH : ORIGIN = 8000, LENGTH = 1K", "FLASH"),
            None
        );
    }

    #[test]
    fn the_nucleo_memory_x_files_follow_the_layout() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        check_nucleo_memory_x(&root).unwrap();
    }
}
