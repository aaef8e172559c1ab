"""rackgw under load, as a BMS and a Prometheus would load it: 2,000 Modbus reads (ten
input registers, round the nine units) and 300 scrapes of /metrics, one client each,
sequential. Run against a live gateway:

    cargo run --release -p rack-sim -- serve --keys row.keys &
    cargo run --release -p rackctl --bin rackgw -- --connect 127.0.0.1:7700 --racks 8 \
        --metrics 127.0.0.1:9100 --modbus 127.0.0.1:5020 &
    target/venv/bin/python host-tools/bench/rackgw_load.py

(`cargo xtask test` makes target/venv with pymodbus.)
"""
import time, statistics, urllib.request
from pymodbus.client import ModbusTcpClient
def call(fn, unit, **kw):
    try:
        return fn(device_id=unit, **kw)
    except TypeError:
        return fn(slave=unit, **kw)
c = ModbusTcpClient("127.0.0.1", port=5020); c.connect()
lat = []
t0 = time.perf_counter()
for i in range(2000):
    t = time.perf_counter()
    r = call(c.read_input_registers, 1 + i % 9, address=0, count=10)
    assert not r.isError()
    lat.append(time.perf_counter() - t)
el = time.perf_counter() - t0
lat.sort()
print(f"modbus: {2000/el:.0f} reads/s (one client, sequential), latency p50 {lat[1000]*1e3:.2f} ms p99 {lat[1980]*1e3:.2f} ms")
lat = []
t0 = time.perf_counter()
for i in range(300):
    t = time.perf_counter()
    urllib.request.urlopen("http://127.0.0.1:9100/metrics").read()
    lat.append(time.perf_counter() - t)
el = time.perf_counter() - t0
lat.sort()
print(f"metrics: {300/el:.0f} scrapes/s (866 samples each), latency p50 {lat[150]*1e3:.2f} ms p99 {lat[297]*1e3:.2f} ms")
