//! `rackgw`: the row in the building's and the data centre's own tools. It connects to a row's
//! devices over the wire protocol (TCP, e.g. `racksim serve`, or serial ports), keeps a live
//! model of them, and serves it as Redfish (HTTPS), Prometheus metrics (`/metrics`) and Modbus
//! TCP.
//!
//! ```sh
//! rackgw --connect 127.0.0.1:7700 --racks 8 --redfish 127.0.0.1:8443 \
//!     --metrics 127.0.0.1:9100 --modbus 127.0.0.1:5020 --config rackgw.toml
//! ```
//!
//! Exit codes: 0 stopped; 2 bad usage or configuration; 4 an interface could not listen.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a daemon reports what it serves

mod metrics;
mod modbus;
mod model;
mod poll;
mod redfish;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use clap::Parser;
use rack_host::link::Target;
use rack_protocol::auth::{Key, parse_key_line};
use serde::Deserialize;

/// Serve a rackloop row to a DCIM (Redfish), a BMS (Modbus TCP) and to Prometheus.
#[derive(Debug, Parser)]
#[command(name = "rackgw", version)]
struct Cli {
    /// The CDU's coolant controller: `host:port`, or a serial port (`/dev/ttyACM0`).
    #[arg(long, value_name = "ADDR", required_unless_present = "modbus_map")]
    connect: Option<String>,
    /// Racks whose power controllers follow on the next ports (as `racksim serve` numbers
    /// them: CDU on PORT, rack N on PORT + 1 + N).
    #[arg(long, default_value_t = 0, value_name = "N", conflicts_with = "device")]
    racks: u16,
    /// A rack's power controller at this address (repeat, in rack order), instead of --racks.
    #[arg(long, value_name = "ADDR")]
    device: Vec<String>,
    /// Serial ports' baud rate.
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// Serve Prometheus metrics at `http://ADDR/metrics`.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Serve Modbus TCP at ADDR.
    #[arg(long, value_name = "ADDR")]
    modbus: Option<SocketAddr>,
    /// Serve Redfish over HTTPS at `https://ADDR/redfish/v1` (needs [keys]: the accounts are
    /// the device keys).
    #[arg(long, value_name = "ADDR")]
    redfish: Option<SocketAddr>,
    /// Serve Redfish over plain HTTP at ADDR (tests, or behind a TLS proxy).
    #[arg(long, value_name = "ADDR")]
    redfish_http: Option<SocketAddr>,
    /// Configuration file (TOML): the keys (Redfish accounts; the one Modbus writes are signed
    /// with), the Modbus groups that may be written, the HTTPS certificate, the CDU's nameplate.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Time between polls of each device, ms (100..=60000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    period_ms: u64,
    /// Time to wait for a device's answer, ms (50..=10000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=10_000))]
    timeout_ms: u64,
    /// Print the Modbus register map and exit.
    #[arg(long)]
    modbus_map: bool,
}

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// The device keys.
    keys: Option<KeysConfig>,
    /// Modbus settings.
    #[serde(default)]
    modbus: ModbusConfig,
    /// Redfish settings.
    #[serde(default)]
    redfish: RedfishConfig,
    /// The CDU's nameplate (what its telemetry does not say).
    #[serde(default)]
    cdu: redfish::tree::Nameplate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysConfig {
    /// A key file as rackctl reads them (`ID ROLE SECRET-HEX` per line), readable by its owner
    /// only; relative to the configuration file. Each key is a Redfish account.
    file: PathBuf,
    /// The key in it that Modbus writes are signed with.
    id: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedfishConfig {
    /// The HTTPS certificate (PEM), relative to the configuration file; none: a self-signed
    /// one, made on the first run and kept beside the configuration file.
    cert: Option<PathBuf>,
    /// Its private key (PEM), readable by its owner only.
    key: Option<PathBuf>,
}

/// The configuration, read and checked.
#[derive(Default)]
struct Loaded {
    /// The key Modbus writes are signed with.
    key: Option<Key>,
    /// The Modbus groups that may be written.
    writable: Vec<modbus::Group>,
    /// The Redfish accounts.
    accounts: Vec<redfish::Account>,
    /// The certificate and its key (PEM files), if given.
    tls: Option<(PathBuf, PathBuf)>,
    /// Where a self-signed certificate is kept.
    state_dir: PathBuf,
    /// The CDU's nameplate.
    nameplate: redfish::tree::Nameplate,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModbusConfig {
    /// The register groups Modbus may write: `setpoints`, `commissioning`, `alarms`. None by
    /// default: the map is read-only.
    #[serde(default)]
    writable: Vec<String>,
}

fn load_config(path: &Path) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the configuration {}: {e}", path.display()))?;
    let config: Config = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut groups = Vec::new();
    for name in &config.modbus.writable {
        let group = modbus::Group::ALL
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, g)| *g)
            .ok_or_else(|| {
                let known: Vec<&str> = modbus::Group::ALL.iter().map(|(n, _)| *n).collect();
                format!(
                    "{}: modbus.writable: unknown group `{name}`; the groups are {}",
                    path.display(),
                    known.join(", ")
                )
            })?;
        groups.push(group);
    }
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let (key, accounts) = match config.keys {
        None => (None, Vec::new()),
        Some(k) => {
            let file = dir.join(&k.file);
            let accounts = read_keys(&file)?;
            let key = match k.id {
                None => None,
                Some(id) => Some(
                    accounts
                        .iter()
                        .find(|a| a.key.id == id)
                        .map(|a| a.key.clone())
                        .ok_or_else(|| format!("{} holds no key {id}", file.display()))?,
                ),
            };
            (key, accounts)
        }
    };
    let tls = match (config.redfish.cert, config.redfish.key) {
        (Some(c), Some(k)) => Some((dir.join(c), dir.join(k))),
        (None, None) => None,
        _ => {
            return Err(format!(
                "{}: [redfish] needs both cert and key, or neither (a self-signed certificate)",
                path.display()
            ));
        }
    };
    Ok(Loaded {
        key,
        writable: groups,
        accounts,
        tls,
        state_dir: dir,
        nameplate: config.cdu,
    })
}

/// Refuses a file that holds secrets if others can read it.
fn private(file: &Path, what: &str) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)
            .map_err(|e| format!("cannot read the {what} {}: {e}", file.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} holds {what} and can be read by others (mode {:o}); run `chmod 600 {}`",
                file.display(),
                mode & 0o777,
                file.display()
            ));
        }
    }
    Ok(())
}

/// Every key in a key file, which only its owner may read.
fn read_keys(file: &Path) -> Result<Vec<redfish::Account>, String> {
    private(file, "keys")?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the key file {}: {e}", file.display()))?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        match parse_key_line(line) {
            Ok(Some((key, role))) => keys.push(redfish::Account { key, role }),
            Ok(None) => {}
            Err(e) => return Err(format!("{}:{}: {e}", file.display(), n + 1)),
        }
    }
    Ok(keys)
}

/// The HTTPS certificate and key (PEM): the configured ones, else the self-signed pair kept in
/// `dir`, made on the first run.
fn certificate(loaded: &Loaded, host: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    if let Some((cert, key)) = &loaded.tls {
        private(key, "the certificate's private key")?;
        return Ok((read(cert)?, read(key)?));
    }
    let (cert, key) = (
        loaded.state_dir.join("rackgw-cert.pem"),
        loaded.state_dir.join("rackgw-key.pem"),
    );
    if cert.exists() && key.exists() {
        private(&key, "the certificate's private key")?;
        return Ok((read(&cert)?, read(&key)?));
    }
    let names = vec!["localhost".to_owned(), host.to_owned()];
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot make a certificate: {e}"))?;
    let (cert_pem, key_pem) = (made.cert.pem(), made.signing_key.serialize_pem());
    std::fs::write(&cert, &cert_pem).map_err(|e| format!("{}: {e}", cert.display()))?;
    write_private(&key, key_pem.as_bytes())?;
    eprintln!(
        "rackgw: made a self-signed certificate for localhost and {host}: {} (key {})",
        cert.display(),
        key.display()
    );
    Ok((cert_pem.into_bytes(), key_pem.into_bytes()))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Where each device is: the CDU, then the racks.
fn targets(cli: &Cli) -> Result<Vec<(String, Target)>, String> {
    let target = |addr: &str| {
        if addr.starts_with('/') {
            Target::Serial(addr.to_owned(), cli.baud)
        } else {
            Target::Tcp(addr.to_owned())
        }
    };
    let connect = cli.connect.as_deref().unwrap_or_default();
    let mut out = vec![(model::CDU.to_owned(), target(connect))];
    if cli.racks > 0 {
        let (host, port) = connect
            .rsplit_once(':')
            .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h, p)))
            .ok_or_else(|| {
                format!(
                    "--racks needs --connect as host:port to number the racks' ports from; got `{connect}`"
                )
            })?;
        for r in 0..cli.racks {
            let port = port
                .checked_add(1 + r)
                .ok_or_else(|| format!("rack {r}'s port would pass 65535"))?;
            out.push((format!("rack-{r}"), Target::Tcp(format!("{host}:{port}"))));
        }
    }
    for (r, addr) in cli.device.iter().enumerate() {
        out.push((format!("rack-{r}"), target(addr)));
    }
    Ok(out)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.modbus_map {
        print!("{}", modbus::map_text());
        return ExitCode::SUCCESS;
    }
    match serve(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("rackgw: {message}");
            ExitCode::from(code)
        }
    }
}

async fn serve(cli: Cli) -> Result<(), (u8, String)> {
    let usage = |m: String| (2, m);
    let loaded = match &cli.config {
        Some(path) => load_config(path).map_err(usage)?,
        None => Loaded {
            state_dir: PathBuf::from("."),
            ..Loaded::default()
        },
    };
    let redfish_wanted = cli.redfish.is_some() || cli.redfish_http.is_some();
    if cli.metrics.is_none() && cli.modbus.is_none() && !redfish_wanted {
        return Err(usage(
            "nothing to serve: give --redfish ADDR, --redfish-http ADDR, --metrics ADDR or --modbus ADDR".into(),
        ));
    }
    if !loaded.writable.is_empty() && loaded.key.is_none() {
        return Err(usage(
            "modbus.writable needs [keys] with an id in the configuration: the devices accept only signed writes".into(),
        ));
    }
    if redfish_wanted && loaded.accounts.is_empty() {
        return Err(usage(
            "Redfish needs [keys] in the configuration: its accounts are the device keys (user name the key's id, password its secret)".into(),
        ));
    }
    let key = loaded.key.clone();
    let writable = loaded.writable.clone();
    let devices = targets(&cli).map_err(usage)?;
    let row: model::Row = Arc::new(RwLock::new(
        devices
            .iter()
            .map(|(name, target)| model::Device::new(name.clone(), target.clone()))
            .collect(),
    ));
    let config = poll::PollConfig {
        period: Duration::from_millis(cli.period_ms),
        timeout: Duration::from_millis(cli.timeout_ms),
        key,
    };
    let writes: Vec<_> = (0..devices.len())
        .map(|i| poll::start(row.clone(), i, config.clone()))
        .collect();

    let mut tasks = tokio::task::JoinSet::new();
    if redfish_wanted {
        let (events, _) = tokio::sync::broadcast::channel(256);
        tokio::spawn(redfish::watch_alarms(
            row.clone(),
            events.clone(),
            Duration::from_millis(250),
        ));
        let service = Arc::new(redfish::Service::new(
            row.clone(),
            writes.clone(),
            loaded.accounts.clone(),
            loaded.nameplate.clone(),
            events,
        ));
        let app = axum::Router::new()
            .fallback(redfish::handle)
            .with_state(service);
        if let Some(addr) = cli.redfish_http {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| (4, format!("redfish on {addr}: {e}")))?;
            println!("rackgw: redfish on http://{}/redfish/v1", local(&listener));
            let app = app.clone();
            tasks.spawn(async move { axum::serve(listener, app).await.map_err(|e| e.to_string()) });
        }
        if let Some(addr) = cli.redfish {
            let (cert, key) = certificate(&loaded, &addr.ip().to_string()).map_err(usage)?;
            // One process-wide provider: ring (see Cargo.toml).
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem(cert, key)
                .await
                .map_err(|e| usage(format!("the HTTPS certificate or key: {e}")))?;
            let listener = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| (4, format!("redfish on {addr}: {e}")))?;
            let at = listener
                .local_addr()
                .map_or_else(|_| "?".to_owned(), |a| a.to_string());
            let server = axum_server::from_tcp_rustls(listener, tls)
                .map_err(|e| (4, format!("redfish on {addr}: {e}")))?;
            println!("rackgw: redfish on https://{at}/redfish/v1");
            tasks.spawn(async move {
                server
                    .serve(app.into_make_service())
                    .await
                    .map_err(|e| e.to_string())
            });
        }
    }
    if let Some(addr) = cli.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| (4, format!("metrics on {addr}: {e}")))?;
        println!("rackgw: metrics on http://{}/metrics", local(&listener));
        let registry = Arc::new(metrics::registry(row.clone()));
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move |headers: axum::http::HeaderMap| {
                let registry = registry.clone();
                async move { metrics_response(&registry, &headers) }
            }),
        );
        tasks.spawn(async move { axum::serve(listener, app).await.map_err(|e| e.to_string()) });
    }
    if let Some(addr) = cli.modbus {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| (4, format!("modbus on {addr}: {e}")))?;
        println!("rackgw: modbus on {}", local(&listener));
        let server = tokio_modbus::server::tcp::Server::new(listener);
        let service = Arc::new(modbus::Service {
            row: row.clone(),
            writes,
            writable,
        });
        tasks.spawn(async move {
            let on_connected = |stream, addr| {
                let service = service.clone();
                async move {
                    tokio_modbus::server::tcp::accept_tcp_connection(stream, addr, move |_| {
                        Ok(Some(service.clone()))
                    })
                }
            };
            server
                .serve(&on_connected, |e| eprintln!("rackgw: modbus client: {e}"))
                .await
                .map_err(|e| e.to_string())
        });
    }
    loop {
        tokio::select! {
            done = tasks.join_next() => match done {
                Some(Ok(Err(e))) => return Err((4, e)),
                Some(_) => {}
                None => return Ok(()),
            },
            // Ctrl-C or SIGINT: a clean stop.
            _ = tokio::signal::ctrl_c() => {
                eprintln!("rackgw: stopped");
                return Ok(());
            }
        }
    }
}

/// The exposition, in `OpenMetrics` for a scraper that asks for it (Prometheus does), else in
/// the classic text format.
fn metrics_response(
    registry: &prometheus_client::registry::Registry,
    headers: &axum::http::HeaderMap,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let openmetrics = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let text = metrics::exposition(registry);
    if openmetrics {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
    } else {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            metrics::classic(&text),
        )
    }
}

fn local(listener: &tokio::net::TcpListener) -> String {
    listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string())
}
