#!/usr/bin/env bash
# A two-node Ray cluster on this one machine, for debugging launch.py, `ray job submit` and the
# fault-tolerance tests against a real multi-node Ray.
#
#   launchers/local-cluster.sh up       start the head and one worker node (1 CPU each)
#   launchers/local-cluster.sh status   show the nodes and the address to use
#   launchers/local-cluster.sh down     stop both nodes (only the processes this script started)
#
# Each node is a `ray start --block` in its own process group (pid = group id, kept in
# $RS_CLUSTER_DIR/{head,worker}.pid); `down` signals those two groups only, so other Ray
# instances on the machine (`ray.init()` of tests, other users) are left alone. Never `ray stop`.
# The nodes use their own temp dir ($RS_TEMP_DIR), so a plain `ray.init()` elsewhere does not
# attach to this cluster; connect with RAY_ADDRESS=127.0.0.1:$RS_HEAD_PORT (not "auto", which
# may pick any Ray running on the machine).
#
# Ports (override with the environment variables in brackets):
#   head GCS / Ray address            6390   [RS_HEAD_PORT]
#   dashboard + job API (http)        8266   [RS_DASHBOARD_PORT]  (needs `pip install "ray[default]"`)
#   head:   node manager +1, object manager +2, runtime-env agent +3, dashboard agent grpc +4,
#           metrics +5, dashboard agent http +6          (offsets from RS_HEAD_PORT: 6391-6396)
#   worker: the same at +11..+16                                                     (6401-6406)
#   worker processes: Ray's free ports in 10002-19999
# Other settings: RS_NUM_CPUS (CPUs per node, 1), RS_CLUSTER_DIR (/tmp/raysearch-cluster: pid
# files and logs), RS_TEMP_DIR (/tmp/raysearch-ray: Ray's session folders), RAY (the `ray`
# executable; default: the repository's .venv/bin/ray if present, else `ray` on PATH),
# RS_STOP_GRACE_S (whole seconds `down` waits after SIGTERM before SIGKILL, 15; a head node
# here often outlives its SIGTERM, so `down` takes the whole grace).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RAY="${RAY:-$([ -x "$ROOT/.venv/bin/ray" ] && echo "$ROOT/.venv/bin/ray" || echo ray)}"
PYTHON="$(dirname "$(command -v "$RAY")")/python"
# `python` in `ray job submit ... -- python launchers/launch.py` is the nodes' venv python
export PATH="$(dirname "$(command -v "$RAY")"):$PATH"
HEAD_PORT="${RS_HEAD_PORT:-6390}"
DASHBOARD_PORT="${RS_DASHBOARD_PORT:-8266}"
NUM_CPUS="${RS_NUM_CPUS:-1}"
STOP_GRACE_S="${RS_STOP_GRACE_S:-15}"
CLUSTER_DIR="${RS_CLUSTER_DIR:-/tmp/raysearch-cluster}"
TEMP_DIR="${RS_TEMP_DIR:-/tmp/raysearch-ray}"
ADDRESS="127.0.0.1:$HEAD_PORT"
# Ray's token authentication stays on: a random token in $CLUSTER_DIR/auth_token (mode 600),
# which every driver needs too (`env` prints the variables to export).
TOKEN_FILE="$CLUSTER_DIR/auth_token"
export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$TOKEN_FILE"
# Loopback only. Ray's gRPC servers (GCS, raylet, object manager, agents) listen on 127.0.0.1
# exactly when their node address is 127.0.0.1, else on every interface; but `ray start`
# replaces a loopback --node-ip-address (and address) by the host's routable one
# (ray._private.services.resolve_ip_for_localhost). So the nodes start through RAY_START, which
# keeps 127.0.0.1, and every process of the cluster and every driver resolves the local node to
# 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: Ray's loopback-only switch; RAY_START lifts
# the switch's ban on worker nodes in its own process only).
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
RAY_START=("$PYTHON" -c 'import sys
from ray._private import ray_constants, services
ray_constants.ENABLE_RAY_CLUSTER = True  # allow `ray start --address` (a worker node)
services.resolve_ip_for_localhost = lambda host: host  # keep 127.0.0.1
from ray.scripts.scripts import main
sys.exit(main())')
DRIVER_ENV="RAY_ADDRESS=$ADDRESS RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=$TOKEN_FILE RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0"

node_ports() {  # $1 = first port of the node's block of six
  echo "--node-manager-port $1 --object-manager-port $(($1 + 1))" \
    "--runtime-env-agent-port $(($1 + 2)) --dashboard-agent-grpc-port $(($1 + 3))" \
    "--metrics-export-port $(($1 + 4)) --dashboard-agent-listen-port $(($1 + 5))"
}

group_alive() {  # $1 = process group id; true while a member is not a zombie (this machine's
  # PID 1 reaps orphans late: a killed node's processes stay zombies for seconds)
  ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ {found = 1} END {exit !found}'
}

running() {  # $1 = node name; true if its process group is alive
  [ -f "$CLUSTER_DIR/$1.pid" ] && group_alive "$(cat "$CLUSTER_DIR/$1.pid")"
}

start_node() {  # $1 = node name, rest = `ray start` arguments
  local name="$1"
  shift
  # shellcheck disable=SC2086
  setsid "${RAY_START[@]}" start --block --disable-usage-stats --temp-dir "$TEMP_DIR" --num-cpus "$NUM_CPUS" \
    --num-gpus 0 --node-ip-address 127.0.0.1 "$@" >"$CLUSTER_DIR/$name.log" 2>&1 &
  echo $! >"$CLUSTER_DIR/$name.pid"
}

alive_nodes() {
  "$PYTHON" - "$ADDRESS" <<'EOF' 2>/dev/null || echo 0
import sys
from ray._raylet import GcsClient
from ray.core.generated import gcs_pb2
nodes = GcsClient(address=sys.argv[1]).get_all_node_info(timeout=5).values()
print(sum(n.state == gcs_pb2.GcsNodeInfo.ALIVE for n in nodes))
EOF
}

wait_nodes() {  # $1 = number of alive nodes to wait for
  for _ in $(seq 1 90); do
    running head || break
    [ "$(alive_nodes)" -ge "$1" ] && return 0
    sleep 1
  done
  echo "local-cluster: timed out waiting for $1 node(s); logs in $CLUSTER_DIR" >&2
  return 1
}

up() {
  if running head || running worker; then
    echo "local-cluster: already running (launchers/local-cluster.sh status)" >&2
    return 1
  fi
  mkdir -p "$CLUSTER_DIR" "$TEMP_DIR"
  if [ ! -s "$TOKEN_FILE" ]; then
    (umask 077 && "$PYTHON" -c "import secrets; print(secrets.token_hex(32))" >"$TOKEN_FILE")
  fi
  local dashboard=false
  "$PYTHON" -c "import aiohttp, aiohttp_cors, opencensus" 2>/dev/null && dashboard=true
  # shellcheck disable=SC2046
  start_node head --head --port "$HEAD_PORT" \
    --include-dashboard "$dashboard" --dashboard-host 127.0.0.1 --dashboard-port "$DASHBOARD_PORT" \
    $(node_ports $((HEAD_PORT + 1)))
  wait_nodes 1
  # shellcheck disable=SC2046
  start_node worker --address "$ADDRESS" $(node_ports $((HEAD_PORT + 11)))
  wait_nodes 2
  echo "local-cluster: up, 2 nodes x $NUM_CPUS CPU"
  echo "  export $DRIVER_ENV"
  if [ "$dashboard" = true ]; then
    echo "  dashboard / jobs: http://127.0.0.1:$DASHBOARD_PORT"
  else
    echo "  no dashboard (pip install \"ray[default]\" for it and for ray job submit)"
  fi
}

stop_node() {  # $1 = node name: SIGTERM its process group, SIGKILL what is left after the grace
  local pid
  running "$1" || { rm -f "$CLUSTER_DIR/$1.pid"; return 0; }
  pid="$(cat "$CLUSTER_DIR/$1.pid")"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 $((5 * STOP_GRACE_S))); do
    group_alive "$pid" || break
    sleep 0.2
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$CLUSTER_DIR/$1.pid"
}

down() {
  stop_node worker
  stop_node head
  echo "local-cluster: down"
}

status() {
  for name in head worker; do
    if running "$name"; then
      echo "$name: running (process group $(cat "$CLUSTER_DIR/$name.pid"))"
    else
      echo "$name: stopped"
    fi
  done
  if running head; then
    echo "alive nodes: $(alive_nodes); RAY_ADDRESS=$ADDRESS; dashboard http://127.0.0.1:$DASHBOARD_PORT"
  fi
}

show_env() {  # the variables a driver needs: eval "$(launchers/local-cluster.sh env)"
  echo "export $DRIVER_ENV"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) show_env ;;
  *)
    echo "usage: $0 up|down|status|env" >&2
    exit 2
    ;;
esac
