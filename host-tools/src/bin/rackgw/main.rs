//! `rackgw`: the row in the building's and the data centre's own tools. It connects to a row's
//! devices over the wire protocol (TCP, e.g. `racksim serve`, or serial ports), keeps a live
//! model of them, and serves it as Prometheus metrics (`/metrics`) and Modbus TCP.
//!
//! ```sh
//! rackgw --connect 127.0.0.1:7700 --racks 8 --metrics 127.0.0.1:9100 --modbus 127.0.0.1:5020
//! ```
//!
//! Exit codes: 0 stopped; 2 bad usage or configuration; 4 an interface could not listen.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a daemon reports what it serves

mod metrics;
mod modbus;
mod model;
mod poll;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use clap::Parser;
use rack_host::link::Target;
use rack_protocol::auth::{Key, parse_key_line};
use serde::Deserialize;

/// Serve a rackloop row to a BMS (Modbus TCP) and to Prometheus.
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
    /// Configuration file (TOML): the key writes are signed with, the Modbus groups that may
    /// be written.
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
    /// The key writes are signed with.
    keys: Option<KeysConfig>,
    /// Modbus settings.
    #[serde(default)]
    modbus: ModbusConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysConfig {
    /// A key file as rackctl reads them (`ID ROLE SECRET-HEX` per line), readable by its owner
    /// only; relative to the configuration file.
    file: PathBuf,
    /// The key in it that writes are signed with.
    id: u16,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModbusConfig {
    /// The register groups Modbus may write: `setpoints`, `commissioning`, `alarms`. None by
    /// default: the map is read-only.
    #[serde(default)]
    writable: Vec<String>,
}

fn load_config(path: &Path) -> Result<(Option<Key>, Vec<modbus::Group>), String> {
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
    let key = match config.keys {
        None => None,
        Some(k) => {
            let file = path.parent().unwrap_or(Path::new(".")).join(&k.file);
            Some(read_key(&file, k.id)?)
        }
    };
    Ok((key, groups))
}

/// Key `id` from a key file, which only its owner may read.
fn read_key(file: &Path, id: u16) -> Result<Key, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)
            .map_err(|e| format!("cannot read the key file {}: {e}", file.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} holds keys and can be read by others (mode {:o}); run `chmod 600 {}`",
                file.display(),
                mode & 0o777,
                file.display()
            ));
        }
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the key file {}: {e}", file.display()))?;
    for (n, line) in text.lines().enumerate() {
        match parse_key_line(line) {
            Ok(Some((key, _))) if key.id == id => return Ok(key),
            Ok(_) => {}
            Err(e) => return Err(format!("{}:{}: {e}", file.display(), n + 1)),
        }
    }
    Err(format!("{} holds no key {id}", file.display()))
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
    let (key, writable) = match &cli.config {
        Some(path) => load_config(path).map_err(usage)?,
        None => (None, Vec::new()),
    };
    if cli.metrics.is_none() && cli.modbus.is_none() {
        return Err(usage(
            "nothing to serve: give --metrics ADDR, --modbus ADDR or both".into(),
        ));
    }
    if !writable.is_empty() && key.is_none() {
        return Err(usage(
            "modbus.writable needs [keys] in the configuration: the devices accept only signed writes".into(),
        ));
    }
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
