//! `rackctl firmware status` and `rackctl firmware update IMAGE`: a device's firmware slots,
//! and a signed image streamed over the link the technician already uses.

use std::path::Path;
use std::time::{Duration, Instant};

use rack_protocol::Message;
use rack_protocol::image::{self, HEADER_LEN};
use rack_protocol::message::{
    FirmwareBegin, FirmwareChunk, FirmwareProgress, FirmwareStatus, FirmwareSwap,
    GetFirmwareStatus, MAX_FIRMWARE_CHUNK,
};
use rack_protocol::types::{BootState, FirmwareVersion, Refusal, UpdateProblem, UpdateSlotState};
use serde_json::json;

use crate::cli::Cli;
use crate::commands::{refused, unexpected};
use crate::link::Link;
use crate::render::to_json;
use crate::{Failure, open};

fn v(v: FirmwareVersion) -> String {
    format!("{}.{}.{}", v.major, v.minor, v.patch)
}

fn ask_status(link: &mut Link) -> Result<FirmwareStatus, Failure> {
    match link.request(&Message::GetFirmwareStatus(GetFirmwareStatus))? {
        Message::FirmwareStatus(s) => Ok(s),
        Message::Refused(r) if r.reason == Refusal::NotSupported => Err(Failure::Refused(
            "refused: this device has no update path (its image was built without one)".into(),
        )),
        other => Err(unexpected(&other)),
    }
}

/// The slots as text, one line each.
fn status_text(s: &FirmwareStatus) -> String {
    let boot = match s.boot {
        BootState::Confirmed => "confirmed".to_owned(),
        BootState::Trial => format!(
            "on trial: healthy for {} of the {} s it needs to mark itself good",
            s.healthy_s, s.confirm_after_s
        ),
        BootState::RolledBack => {
            "rolled back: the image swapped in never marked itself good".to_owned()
        }
    };
    let slot = match s.slot {
        UpdateSlotState::Empty => "empty".to_owned(),
        UpdateSlotState::Receiving {
            version,
            received,
            len,
        } => format!("receiving {}: {received} of {len} B", v(version)),
        UpdateSlotState::Verified { version } => {
            format!("{} verified, ready to swap", v(version))
        }
        UpdateSlotState::Previous => "the previous image, kept for a rollback".to_owned(),
    };
    format!(
        "running   {} ({boot})\nupdate    {slot}\nminimum   {} (older images are refused)",
        v(s.running),
        v(s.minimum)
    )
}

/// `firmware status`.
pub(crate) fn status(cli: &Cli) -> Result<(), Failure> {
    let s = ask_status(&mut open(cli)?)?;
    if cli.json {
        out!("{}", json!({ "firmware": to_json(&s) }));
    } else {
        out!("{}", status_text(&s));
    }
    Ok(())
}

/// Reads and checks the image file before anything reaches the device.
fn read_image(path: &Path) -> Result<(Vec<u8>, image::Header), Failure> {
    let bytes =
        std::fs::read(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    let (header, _) = image::parse(&bytes).map_err(|e| {
        Failure::Usage(format!(
            "{}: {e}; a signed image comes from `cargo xtask firmware --sign KEY` (IMAGE.rlfw)",
            path.display()
        ))
    })?;
    let binary = bytes.len().saturating_sub(HEADER_LEN);
    if binary != header.len as usize {
        return Err(Failure::Usage(format!(
            "{}: its header says {} B of binary, the file holds {binary} B (cut short or padded?)",
            path.display(),
            header.len
        )));
    }
    Ok((bytes, header))
}

/// The link to the device again, once it answers (after a dropped link, or the reset of a
/// swap), for at most `within`.
fn reconnect(cli: &Cli, within: Duration) -> Result<Link, Failure> {
    let deadline = Instant::now() + within;
    loop {
        let tried = open(cli).and_then(|mut link| ask_status(&mut link).map(|_| link));
        match tried {
            Ok(link) => return Ok(link),
            Err(Failure::Link(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
}

/// What one update did, for the report.
#[derive(Default)]
struct Run {
    chunks: u64,
    resumed: u64,
}

/// `firmware update IMAGE`.
pub(crate) fn update(
    cli: &Cli,
    path: &Path,
    no_swap: bool,
    reconnect_within: Duration,
) -> Result<(), Failure> {
    let (bytes, header) = read_image(path)?;
    let started = Instant::now();
    let binary = bytes.get(HEADER_LEN..).unwrap_or_default();
    let head = bytes.get(..HEADER_LEN).unwrap_or_default();
    let mut link = open(cli)?;
    let before = ask_status(&mut link)?;
    let mut run = Run::default();
    let bar = progress_bar(cli, u64::from(header.len));
    // Resume an upload of this image that a dropped link (or rackctl) left half done.
    let mut next = match before.slot {
        UpdateSlotState::Receiving {
            version,
            received,
            len,
        } if version == header.version && len == header.len => {
            run.resumed += 1;
            received
        }
        UpdateSlotState::Verified { version } if version == header.version => header.len,
        _ => begin(cli, &mut link, head)?.next_offset,
    };
    let mut verified = next == header.len && header.len > 0;
    while !verified {
        bar.set_position(u64::from(next));
        let at = next as usize;
        let end = (at + MAX_FIRMWARE_CHUNK).min(binary.len());
        let chunk = Message::FirmwareChunk(FirmwareChunk {
            offset: next,
            data: binary
                .get(at..end)
                .unwrap_or_default()
                .iter()
                .copied()
                .collect(),
        });
        run.chunks += 1;
        match link.request(&chunk) {
            Ok(Message::FirmwareProgress(p)) => {
                next = p.next_offset;
                verified = p.verified;
            }
            Ok(Message::Refused(r)) => match r.reason {
                Refusal::Update(UpdateProblem::OutOfOrder { expected }) => next = expected,
                Refusal::Update(UpdateProblem::NotReceiving) => {
                    // The device lost the upload (it reset): begin again.
                    run.resumed += 1;
                    next = begin(cli, &mut link, head)?.next_offset;
                }
                reason => {
                    bar.abandon();
                    return Err(refused(cli, "the image", reason, None));
                }
            },
            Ok(other) => return Err(unexpected(&other)),
            Err(_) => {
                // The link dropped or an answer never came: reach the device again and go
                // on from where it says.
                bar.set_message("link lost, reconnecting");
                link = reconnect(cli, reconnect_within)?;
                bar.set_message("");
                run.resumed += 1;
                next = match ask_status(&mut link)?.slot {
                    UpdateSlotState::Receiving { received, .. } => received,
                    UpdateSlotState::Verified { .. } => header.len,
                    _ => begin(cli, &mut link, head)?.next_offset,
                };
                verified = false;
                if next == header.len {
                    verified = matches!(
                        ask_status(&mut link)?.slot,
                        UpdateSlotState::Verified { .. }
                    );
                }
            }
        }
    }
    bar.finish_and_clear();
    let mut report = json!({
        "image": path.display().to_string(),
        "version": v(header.version),
        "bytes": header.len,
        "chunks": run.chunks,
        "resumed": run.resumed,
        "upload_s": started.elapsed().as_secs_f64(),
        "verified": true,
        "swapped": false,
    });
    if !cli.json {
        out!(
            "{}: {} B in {} chunks, {:.1} s ({} resumed); signature verified on the device",
            path.display(),
            header.len,
            run.chunks,
            started.elapsed().as_secs_f64(),
            run.resumed
        );
    }
    if !no_swap {
        match link.request(&Message::FirmwareSwap(FirmwareSwap))? {
            Message::Ack(_) => {}
            Message::Refused(r) => return Err(refused(cli, "the swap", r.reason, None)),
            other => return Err(unexpected(&other)),
        }
        drop(link);
        if !cli.json {
            out!("swapping: the device resets into its bootloader");
        }
        // The device comes back on the new image, on trial.
        let deadline = Instant::now() + reconnect_within;
        let after = loop {
            let mut link = reconnect(cli, reconnect_within)?;
            let s = ask_status(&mut link)?;
            if s.boot != BootState::Confirmed || Instant::now() > deadline {
                break s;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        if let Some(fields) = report.as_object_mut() {
            fields.insert("swapped".into(), json!(true));
            fields.insert("status".into(), to_json(&after));
        }
        if !cli.json {
            out!("{}", status_text(&after));
        }
    }
    if cli.json {
        out!("{report}");
    }
    Ok(())
}

fn begin(cli: &Cli, link: &mut Link, head: &[u8]) -> Result<FirmwareProgress, Failure> {
    let message = Message::FirmwareBegin(FirmwareBegin {
        header: head.iter().copied().collect(),
    });
    match link.request(&message)? {
        Message::FirmwareProgress(p) => Ok(p),
        Message::Refused(r) => Err(refused(cli, "the image", r.reason, None)),
        other => Err(unexpected(&other)),
    }
}

/// A progress bar on stderr when it is a terminal and the output is text.
fn progress_bar(cli: &Cli, len: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if cli.json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}
