//! Processor-in-the-loop: the real ARM binary of a controller runs in QEMU (`mps2-an386`), the
//! plant runs here, and the two exchange plant I/O frames over the board's UART1 in lockstep;
//! UART0 carries the host protocol.
//!
//! QEMU connects to three TCP ports this side listens on (bytes sent before a client connects
//! would be lost otherwise): the two UARTs and its machine protocol (QMP), through which a run
//! halts the CPU and resets the board as a debugger or a reset line would. It runs with
//! semihosting enabled (the firmware's log and exit code) and always under a deadline.
//!
//! The board boots as a board with flash does: QEMU starts the bootloader (`bootloader`
//! beside the image), which loads the active slot of the board's flash, a file in QEMU's
//! working directory ([`rack_protocol::image::qemu`]). A run programs that file with the
//! image (`IMAGE.bin`, which `cargo xtask firmware` writes) as a factory would, in a folder of
//! its own, or runs on a flash a test keeps ([`Pil::start_in`]) through resets, power cuts and
//! updates.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rack_protocol::Message;
use rack_protocol::decoder::FrameDecoder;
use rack_protocol::frame::{self, MAX_WIRE_FRAME_SIZE};
use rack_protocol::message::{ActuatorCommand, PlantSample};

/// How long one exchange may take before the run is declared hung.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a firmware that came up again has to answer a sample sent before its reset
/// before it gets the sample again.
const REBOOT_GRACE: Duration = Duration::from_millis(300);

/// A running QEMU with a controller image.
#[derive(Debug)]
pub struct Pil {
    qemu: Child,
    plant: TcpStream,
    /// The host-protocol link (UART0).
    pub host: TcpStream,
    /// QEMU's machine protocol.
    qmp: BufReader<TcpStream>,
    /// What the firmware printed so far (semihosting), read as it comes.
    log: Arc<Mutex<String>>,
    log_reader: Option<std::thread::JoinHandle<()>>,
    /// The image run (its measured stack peaks are noted beside it).
    image: PathBuf,
    /// The folder of the board's flash file, and whether the run made it (and removes it).
    flash_dir: (PathBuf, bool),
    decoder: FrameDecoder,
    seq: u16,
    /// Steps exchanged.
    pub steps: u64,
}

/// Where `cargo xtask firmware` puts an image.
pub fn default_image(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/boards/thumbv7em-none-eabihf/release")
        .join(name)
}

fn accept(
    listener: &TcpListener,
    deadline: Instant,
    qemu: &mut Child,
) -> Result<TcpStream, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).map_err(|e| e.to_string())?;
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if let Ok(Some(status)) = qemu.try_wait() {
                    return Err(format!("QEMU exited before connecting ({status})"));
                }
                if Instant::now() > deadline {
                    return Err("QEMU did not connect within 20 s".into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

impl Pil {
    /// Starts QEMU with `image` and waits for it to connect both UARTs.
    pub fn start(image: &Path) -> Result<Self, String> {
        Self::start_with(image, None)
    }

    /// Starts QEMU with `image` and, if given, the file `preload.0` loaded into the machine's
    /// memory at `preload.1` before the firmware runs (the settings store a board kept through
    /// a power cycle, see [`Pil::save_memory`]; QEMU loads it again at every reset).
    pub fn start_with(image: &Path, preload: Option<(&Path, u32)>) -> Result<Self, String> {
        Self::start_in(image, None, preload)
    }

    /// Starts QEMU on the board's flash in `flash_dir` (kept after the run; programmed with
    /// `image` first if it holds no flash file yet), or on a flash of the run's own.
    pub fn start_in(
        image: &Path,
        flash_dir: Option<&Path>,
        preload: Option<(&Path, u32)>,
    ) -> Result<Self, String> {
        let binary = image.with_extension("bin");
        let bootloader = image.with_file_name("bootloader");
        for (what, path) in [
            ("image", image),
            ("image's binary", &binary),
            ("bootloader", &bootloader),
        ] {
            if !path.exists() {
                return Err(format!(
                    "no firmware {what} at {}: build it with `cargo xtask firmware`",
                    path.display()
                ));
            }
        }
        let flash_dir = match flash_dir {
            Some(dir) => (dir.to_path_buf(), false),
            None => {
                static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let dir =
                    std::env::temp_dir().join(format!("rackloop-pil-{}-{n}", std::process::id()));
                (dir, true)
            }
        };
        std::fs::create_dir_all(&flash_dir.0)
            .map_err(|e| format!("{}: {e}", flash_dir.0.display()))?;
        let flash_file = flash_dir.0.join("flash.bin");
        if !flash_file.exists() {
            let bytes = std::fs::read(&binary).map_err(|e| format!("{}: {e}", binary.display()))?;
            let mut flash = vec![0u8; rack_protocol::image::qemu::FLASH_LEN as usize];
            rack_protocol::image::qemu::program(&mut flash, &bytes)
                .map_err(|e| format!("{}: {e}", binary.display()))?;
            std::fs::write(&flash_file, flash)
                .map_err(|e| format!("{}: {e}", flash_file.display()))?;
        }
        let absolute =
            |p: &Path| std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()));
        let bootloader = absolute(&bootloader)?;
        let host_l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let plant_l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let qmp_l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = |l: &TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0);
        let mut qemu = Command::new("qemu-system-arm")
            .current_dir(&flash_dir.0)
            .args(["-machine", "mps2-an386", "-cpu", "cortex-m4", "-nographic", "-monitor", "none"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .arg("-kernel")
            .arg(&bootloader)
            .args(["-serial", &format!("tcp:127.0.0.1:{},nodelay=on", port(&host_l))])
            .args(["-serial", &format!("tcp:127.0.0.1:{},nodelay=on", port(&plant_l))])
            .args(["-qmp", &format!("tcp:127.0.0.1:{},nodelay=on", port(&qmp_l))])
            .args(match preload {
                Some((file, addr)) => vec![
                    "-device".to_owned(),
                    format!("loader,file={},addr={addr:#x},force-raw=on", absolute(file)?.display()),
                ],
                None => Vec::new(),
            })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start qemu-system-arm ({e}); install it: apt-get install qemu-system-arm"))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let host = accept(&host_l, deadline, &mut qemu)?;
        let plant = accept(&plant_l, deadline, &mut qemu)?;
        let qmp = accept(&qmp_l, deadline, &mut qemu)?;
        plant
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        qmp.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let log = Arc::new(Mutex::new(String::new()));
        let log_reader = qemu.stdout.take().map(|out| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
            })
        });
        let mut qmp = BufReader::new(qmp);
        // The greeting, then capabilities negotiation: QMP takes commands after it.
        qmp_line(&mut qmp)?;
        qmp_command(&mut qmp, "qmp_capabilities")?;
        Ok(Self {
            qemu,
            plant,
            host,
            qmp,
            log,
            log_reader,
            image: image.to_path_buf(),
            flash_dir,
            decoder: FrameDecoder::new(),
            seq: 0,
            steps: 0,
        })
    }

    /// Sends a sample without waiting for an answer (one that makes the firmware reset).
    pub fn send(&mut self, sample: &PlantSample) -> Result<(), String> {
        self.seq = self.seq.wrapping_add(1);
        let mut wire = [0u8; MAX_WIRE_FRAME_SIZE];
        let len = frame::encode(self.seq, &Message::PlantSample(sample.clone()), &mut wire)
            .map_err(|e| e.to_string())?;
        self.plant
            .write_all(wire.get(..len).unwrap_or(&[]))
            .map_err(|e| format!("plant link: {e}"))
    }

    /// Sends a sample and waits for the firmware's command for it. A firmware that resets on
    /// its own meanwhile (the swap of an update, a trial that ran out) gets the sample again
    /// once it is up, unless it answers the first.
    pub fn exchange(&mut self, sample: &PlantSample) -> Result<ActuatorCommand, String> {
        let time = sample.sim_time_us;
        let boots = self.boots();
        self.send(sample)?;
        let mut deadline = Instant::now() + EXCHANGE_TIMEOUT;
        let mut rebooted_at: Option<Instant> = None;
        let mut sent_again = false;
        loop {
            if let Some(cmd) = self.read_command(time)? {
                self.steps += 1;
                return Ok(cmd);
            }
            if !sent_again && self.boots() > boots {
                // Up again: the sample reached the new firmware whole (it answers soon) or
                // was cut by the reset (it never will).
                let since = *rebooted_at.get_or_insert_with(Instant::now);
                if since.elapsed() > REBOOT_GRACE {
                    self.decoder = FrameDecoder::new();
                    self.send(sample)?;
                    sent_again = true;
                    deadline = Instant::now() + EXCHANGE_TIMEOUT;
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no actuator command from the firmware within {EXCHANGE_TIMEOUT:?}"
                ));
            }
        }
    }

    /// What the plant link holds now: the command for the step at `time`, if it came.
    fn read_command(&mut self, time: u64) -> Result<Option<ActuatorCommand>, String> {
        let mut buf = [0u8; 512];
        match self.plant.read(&mut buf) {
            Ok(0) => Err("the firmware closed the plant link".into()),
            Ok(n) => Ok(self
                .decoder
                .feed(buf.get(..n).unwrap_or(&[]))
                .filter_map(Result::ok)
                .find_map(|f| match f.message {
                    Message::ActuatorCommand(cmd) if cmd.sim_time_us == time => Some(cmd),
                    _ => None,
                })),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(format!("plant link: {e}")),
        }
    }

    /// Halts the CPU (as a debugger halt, or a hang, would): the firmware runs no code until
    /// [`Pil::reset`].
    pub fn halt(&mut self) -> Result<(), String> {
        qmp_command(&mut self.qmp, "stop")
    }

    /// Resets the board (as its reset line would) and lets it run: the firmware boots afresh;
    /// returns once it is up.
    pub fn reset(&mut self) -> Result<(), String> {
        let before = self.boots();
        qmp_command(&mut self.qmp, "system_reset")?;
        qmp_command(&mut self.qmp, "cont")?;
        self.wait_for_boot(before, Duration::from_secs(20))
    }

    /// Writes `len` bytes of the machine's memory from `addr` to `file` (QMP `pmemsave`): what
    /// a board's flash would keep through a power cycle.
    pub fn save_memory(&mut self, addr: u32, len: u32, file: &Path) -> Result<(), String> {
        let path = file.to_str().ok_or("the file's path is not UTF-8")?;
        let arguments = format!(
            r#"{{"val":{addr},"size":{len},"filename":{}}}"#,
            serde_json::to_string(path).map_err(|e| e.to_string())?
        );
        qmp_execute(&mut self.qmp, "pmemsave", Some(&arguments))
    }

    /// Cuts the board's power: QEMU is killed wherever the firmware is, and its flash keeps
    /// what was written (start the board again with [`Pil::start_in`] on the same folder).
    pub fn power_cut(&mut self) {
        if let Ok(None) = self.qemu.try_wait() {
            let _ = self.qemu.kill();
            let _ = self.qemu.wait();
        }
    }

    /// The folder of the board's flash file.
    pub fn flash_dir(&self) -> &Path {
        &self.flash_dir.0
    }

    /// How many times the firmware has come up so far.
    pub fn boots(&self) -> usize {
        self.log
            .lock()
            .map(|l| l.matches(": up").count())
            .unwrap_or(0)
    }

    /// Waits until the firmware has come up more than `before` times (it reset and booted
    /// again), for at most `timeout`.
    pub fn wait_for_boot(&mut self, before: usize, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while self.boots() <= before {
            if Instant::now() > deadline {
                return Err(format!(
                    "the firmware did not boot again within {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // A half frame sent before the reset is gone with the old firmware's decoder.
        self.decoder = FrameDecoder::new();
        Ok(())
    }

    /// What the firmware printed so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Ends the run: the firmware answers the last sample and exits through semihosting.
    /// Returns its exit status and what it printed.
    pub fn finish(mut self, last: &PlantSample) -> Result<(bool, String), String> {
        self.exchange(last)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.qemu.try_wait().map_err(|e| e.to_string())? {
                if let Some(reader) = self.log_reader.take() {
                    let _ = reader.join();
                }
                let log = self.log();
                note_stack_peaks(&self.image, &log);
                return Ok((status.success(), log));
            }
            if Instant::now() > deadline {
                let _ = self.qemu.kill();
                return Err("the firmware did not exit after the last sample".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Appends the stack peaks the firmware reported at the end of its run (`stack peak N of M
/// B`) to `IMAGE.stack-peaks`, one `N M` line per run, for `cargo xtask test` to check against
/// the budget. Runs side by side append whole lines.
fn note_stack_peaks(image: &Path, log: &str) {
    let lines: String = log
        .lines()
        .filter_map(|l| {
            let rest = l.split("stack peak ").nth(1)?;
            let mut words = rest.split_whitespace();
            let peak: u32 = words.next()?.parse().ok()?;
            let budget: u32 = words.nth(1)?.parse().ok()?;
            Some(format!("{peak} {budget}\n"))
        })
        .collect();
    if lines.is_empty() {
        return;
    }
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(image.with_extension("stack-peaks"))
    {
        let _ = file.write_all(lines.as_bytes());
    }
}

/// One line from QMP.
fn qmp_line(qmp: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = String::new();
    match qmp.read_line(&mut line) {
        Ok(0) => Err("QEMU closed its machine protocol link".into()),
        Ok(_) => Ok(line),
        Err(e) => Err(format!("QEMU machine protocol: {e}")),
    }
}

/// Runs a QMP command without arguments and waits for its answer (events on the way are
/// skipped; an error answer is returned as the error).
fn qmp_command(qmp: &mut BufReader<TcpStream>, command: &str) -> Result<(), String> {
    qmp_execute(qmp, command, None)
}

/// Runs a QMP command with `arguments` (a JSON object), if any, and waits for its answer.
fn qmp_execute(
    qmp: &mut BufReader<TcpStream>,
    command: &str,
    arguments: Option<&str>,
) -> Result<(), String> {
    let request = match arguments {
        Some(a) => format!("{{\"execute\":\"{command}\",\"arguments\":{a}}}\n"),
        None => format!("{{\"execute\":\"{command}\"}}\n"),
    };
    qmp.get_mut()
        .write_all(request.as_bytes())
        .map_err(|e| format!("QEMU machine protocol: {e}"))?;
    loop {
        let line = qmp_line(qmp)?;
        if line.contains("\"return\"") {
            return Ok(());
        }
        if line.contains("\"error\"") {
            return Err(format!("QEMU refused `{command}`: {}", line.trim()));
        }
    }
}

impl Drop for Pil {
    fn drop(&mut self) {
        // Never leave QEMU behind, whatever happened.
        self.power_cut();
        if self.flash_dir.1 {
            let _ = std::fs::remove_dir_all(&self.flash_dir.0);
        }
    }
}
