//! Signed update images: `cargo xtask firmware --sign KEY`, `cargo xtask firmware-key FILE`,
//! and the check `cargo xtask test` makes of the images signed with the development key.

use crate::{BOARDS, BOARDS_DIR, FLASH_BUDGET, IMAGES};

/// A firmware signing key: its id and its ed25519 seed.
pub struct SigningKey {
    id: u8,
    seed: [u8; 32],
}

/// The key file `--sign KEY` names, read before anything is built so a bad one costs nothing.
pub fn signing_key(args: &[String]) -> Result<Option<SigningKey>, String> {
    match args {
        [] => Ok(None),
        [flag, path] if flag == "--sign" => read_signing_key(path).map(Some),
        _ => Err(format!(
            "firmware takes no arguments or `--sign KEY` (a key file made by `cargo xtask firmware-key FILE`), not `{}`",
            args.join(" ")
        )),
    }
}

/// Reads a key file: `#` comments and one line `ID ed25519 SEED` (ID 0..=255, SEED 64 hex
/// digits), as `cargo xtask firmware-key` writes it.
pub fn read_signing_key(path: &str) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--sign {path}: {e}"))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| format!("--sign {path}: no key line (`ID ed25519 SEED`)"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [id, "ed25519", seed] = fields.as_slice() else {
        return Err(format!(
            "--sign {path}: the key line must be `ID ed25519 SEED` (SEED 64 hex digits), not `{line}`"
        ));
    };
    let id = id
        .parse::<u8>()
        .map_err(|_| format!("--sign {path}: key id `{id}`: allowed 0..=255"))?;
    let bytes = (0..seed.len())
        .step_by(2)
        .map(|i| {
            seed.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>();
    let seed: [u8; 32] = bytes
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("--sign {path}: the seed must be 64 hex digits"))?;
    Ok(SigningKey { id, seed })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `cargo xtask firmware-key FILE`: a new signing key (id 1) from the system's randomness, in
/// a file only its owner can read; never over an existing file.
pub fn new_signing_key(path: Option<&str>) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let path = path.ok_or("firmware-key needs the FILE to write the new key to")?;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{path}: {e} (a key file is never overwritten)"))?;
    let public = rack_protocol::image::public_key(&seed);
    writeln!(
        file,
        "# rackloop firmware signing key: ID ed25519 SEED (64 hex digits). Keep it secret.\n\
         # Its public key (what a device's build trusts): {}\n1 ed25519 {}",
        hex(&public),
        hex(&seed)
    )
    .map_err(|e| format!("{path}: {e}"))?;
    println!(
        "xtask: new signing key 1 in {path}; public key {}",
        hex(&public)
    );
    Ok(())
}

/// The board images' version (`firmware/boards/Cargo.toml`'s workspace version).
fn images_version() -> Result<rack_protocol::types::FirmwareVersion, String> {
    let path = format!("{BOARDS_DIR}/Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let doc: toml::Table = text.parse().map_err(|e| format!("{path}: {e}"))?;
    let version = doc
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(toml::Value::as_str)
        .ok_or_else(|| format!("{path}: no [workspace.package] version"))?;
    let parts: Vec<u8> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [major, minor, patch] => Ok(rack_protocol::types::FirmwareVersion {
            major: *major,
            minor: *minor,
            patch: *patch,
        }),
        _ => Err(format!(
            "{path}: version `{version}` is not MAJOR.MINOR.PATCH of 0..=255 each"
        )),
    }
}

/// The development signing key (public in the repository, like `dev.keys`).
pub const DEV_SIGNING_KEY: &str = "firmware/boards/dev-signing.key";

/// Checks signed images as their devices would (`rack_protocol::image::verify`, the key's
/// public half trusted, the images' own version as the minimum, a 64 KiB slot).
pub fn check_signed_images(signed: &[(String, SignedImage)]) -> Result<(), String> {
    for (path, s) in signed {
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let keys = [(s.key_id, s.public)];
        let expect = rack_protocol::image::Expect {
            kind: s.header.kind,
            board: s.header.board,
            minimum: s.header.version,
            slot_len: u32::try_from(FLASH_BUDGET).unwrap_or(u32::MAX),
            keys: &keys,
        };
        let read = rack_protocol::image::verify(&bytes, &expect)
            .map_err(|e| format!("{path}: a device would refuse it: {e}"))?;
        if read != s.header {
            return Err(format!("{path}: its header reads back as {read:?}"));
        }
    }
    println!(
        "xtask: ok signed images read back as a device reads them ({})",
        signed.len()
    );
    Ok(())
}

/// What [`sign_images`] wrote for one image.
pub struct SignedImage {
    header: rack_protocol::image::Header,
    key_id: u8,
    public: [u8; 32],
}

/// Writes each built image as a signed update image beside it (`IMAGE.rlfw`: the header of
/// `rack_protocol::image` and the flash contents from the vector table on).
pub fn sign_images(key: &SigningKey) -> Result<Vec<(String, SignedImage)>, String> {
    use rack_protocol::image::{self, Board, Header};
    use rack_protocol::types::DeviceKind;
    let version = images_version()?;
    println!(
        "xtask: signed update images (key {}, version {}.{}.{})",
        key.id, version.major, version.minor, version.patch
    );
    let mut written = Vec::new();
    for (board_name, _, out) in BOARDS {
        let board = Board::ALL
            .into_iter()
            .find(|b| b.name() == *board_name)
            .ok_or_else(|| format!("no image board code for {board_name}"))?;
        for name in IMAGES {
            let kind = if *name == "power-controller" {
                DeviceKind::PowerController
            } else {
                DeviceKind::CoolantController
            };
            // Written by `cargo xtask firmware`, which runs first.
            let bin = format!("{out}/{name}.bin");
            let binary = std::fs::read(&bin).map_err(|e| format!("{bin}: {e}"))?;
            let mut header = Header {
                kind,
                board,
                key_id: key.id,
                version,
                len: 0,
            };
            let signed = image::sign(header, &binary, &key.seed)
                .ok_or_else(|| format!("{bin}: too large to sign"))?;
            header.len = u32::try_from(binary.len()).unwrap_or(u32::MAX);
            let path = format!("{out}/{name}.rlfw");
            std::fs::write(&path, &signed).map_err(|e| format!("{path}: {e}"))?;
            println!("  {path} ({} B)", signed.len());
            written.push((
                path,
                SignedImage {
                    header,
                    key_id: key.id,
                    public: image::public_key(&key.seed),
                },
            ));
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Reads `text` as a key file.
    fn read(name: &str, text: &str) -> Result<SigningKey, String> {
        let path = std::env::temp_dir().join(format!("xtask-key-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let key = read_signing_key(path.to_str().unwrap());
        let _ = std::fs::remove_file(&path);
        key
    }

    #[test]
    fn the_development_key_reads_and_bad_key_files_say_what_is_wrong() {
        let dev = read_signing_key(&format!("../{DEV_SIGNING_KEY}")).unwrap();
        assert_eq!(dev.id, 1);
        let seed = "ab".repeat(32);
        let key = read("good", &format!("# a comment\n\n7 ed25519 {seed}\n")).unwrap();
        assert_eq!((key.id, key.seed), (7, [0xab; 32]));
        for (name, text, says) in [
            ("empty", "# nothing\n".to_owned(), "no key line"),
            ("id", format!("300 ed25519 {seed}"), "allowed 0..=255"),
            ("kind", format!("1 rsa {seed}"), "must be `ID ed25519 SEED`"),
            ("short", "1 ed25519 abcd".to_owned(), "64 hex digits"),
            (
                "hex",
                format!("1 ed25519 {}", "zz".repeat(32)),
                "64 hex digits",
            ),
        ] {
            let e = read(name, &text).err().unwrap();
            assert!(e.contains(says), "{name}: {e}");
        }
        let e = signing_key(&["--bogus".to_owned()]).err().unwrap();
        assert!(e.contains("`--sign KEY`"), "{e}");
        assert!(signing_key(&[]).unwrap().is_none());
    }
}
