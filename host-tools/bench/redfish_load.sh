#!/usr/bin/env bash
# rackgw's Redfish under load, as a DCIM fleet would load it: `wrk` (Debian's package) GETs
# four resources for 10 s each, over HTTPS and plain HTTP, authenticated (Basic, the operator
# key), 2 threads x 8 connections; and, at the same time, whether the row's control loop
# notices: `racksim load` probes the CDU (its identity, 4/s) and reports the row's speed.
#
#   cargo build --release -p rack-sim -p rackctl
#   target/release/racksim serve --keys row.keys &            # the practice row, 1x
#   printf '[keys]\nfile = "row.keys"\n' > rackgw.toml
#   target/release/rackgw --connect 127.0.0.1:7700 --racks 8 \
#       --redfish 127.0.0.1:8443 --redfish-http 127.0.0.1:8000 --config rackgw.toml &
#   host-tools/bench/redfish_load.sh row.keys
set -euo pipefail
command -v wrk > /dev/null || { echo "needs wrk: apt-get install -y wrk" >&2; exit 2; }
keys=${1:?usage: redfish_load.sh KEYS-FILE}
secret=$(awk '$1 == 2 { print $3 }' "$keys")
auth="Authorization: Basic $(printf '2:%s' "$secret" | base64 -w0)"
racksim=${RACKSIM:-target/release/racksim}
paths=(
    /redfish/v1/
    /redfish/v1/ThermalEquipment/CDUs/cdu
    /redfish/v1/ThermalEquipment/CDUs/cdu/SecondaryCoolantConnectors/1
    /redfish/v1/Chassis/rack-0/Controls/PowerLimit
)
echo "== the control loop alone (probe 20 s, no Redfish load)"
"$racksim" load --connect 127.0.0.1:7700 --flood 0 --idle 0 --half 0 --deaf 0 --seconds 20 | grep -E "speed|probe"
echo "== Redfish GETs (wrk -t2 -c8 -d10s), the probe running throughout"
"$racksim" load --connect 127.0.0.1:7700 --flood 0 --idle 0 --half 0 --deaf 0 --seconds 85 > /tmp/redfish_load_probe.txt &
probe=$!
sleep 2
for scheme in https://127.0.0.1:8443 http://127.0.0.1:8000; do
    for p in "${paths[@]}"; do
        printf '%-72s ' "$scheme$p"
        wrk -t2 -c8 -d10s --latency -H "$auth" "$scheme$p" |
            awk '/Requests\/sec/ { rps = $2 } / 50%/ { p50 = $2 } / 99%/ { p99 = $2 }
                 / [0-9]+ requests in/ { n = $1 } /Non-2xx/ { bad = $NF }
                 END { printf "%8.0f req/s  p50 %-8s p99 %-8s (%s requests, %s non-2xx)\n", rps, p50, p99, n, bad + 0 }'
    done
done
wait "$probe"
echo "== the control loop under that load"
grep -E "speed|probe" /tmp/redfish_load_probe.txt
