#!/usr/bin/env bash
# End-to-end check of the Docker deployment: build (or reuse) the images, start the stack, send a
# DICOM series to Orthanc over C-STORE, wait for the job, check that the DICOM-SEG, SR and
# encapsulated PDF came back to Orthanc and into the result folder, that the statistics database
# has the job as delivered, run the cli image as a non-root user on a mounted folder, tear down.
#
# Usage: sudo bash scripts/compose_smoke.sh --series DIR [options]
#   --series DIR      DICOM series to send (required)
#   --weights DIR     weights folder mounted read-only at /weights (default: none mounted)
#   --allow-stand-in  deliver results made with stand-in (test) weights (ALLOW_STAND_IN_RESULTS)
#   --model MODELS    PACS_MODEL of the worker (default total+bca)
#   --bca-engine E    BCA_ENGINE of the worker (default threshold: needs no weights)
#   --wheelhouse DIR  folder of wheels (a CPU-only torch) served on loopback to the builds
#   --wheelhouse-port P  loopback port it is served on (default 18999)
#   --torch-version V torch release of the images (default 2.14.1)
#   --site-ca FILE    CA certificate the builds must trust (copied to scripts/site-ca/); repeatable
#   --cache DIR       Docker engine data and base image kept between runs (default /var/cache/boa-docker)
#   --timeout S       seconds to wait for the job (default 1800)
#   --keep            leave the work folder (logs, results) in place
# Everything runs in a network namespace with loopback only: dockerd (for the stack) starts
# inside it and the containers use its network (scripts/compose.hostnet.yml). The builds run
# before, with the host's network, to reach the Debian mirror and the package index.
# Exit codes: 0 passed, 1 a check failed, 2 bad arguments, 3 Docker cannot run here (skipped),
# 4 an image build failed.
set -euo pipefail
cd "$(dirname "$0")/.."

series=; weights=; allow_stand_in=false; model=total+bca; bca_engine=threshold; wheelhouse=
torch_version=2.14.1; wheel_port=18999; cache=/var/cache/boa-docker; timeout_s=1800; keep=false; site_cas=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --series) series=$(realpath "${2:?}"); shift 2 ;;
    --weights) weights=$(realpath "${2:?}"); shift 2 ;;
    --allow-stand-in) allow_stand_in=true; shift ;;
    --model) model=${2:?}; shift 2 ;;
    --bca-engine) bca_engine=${2:?}; shift 2 ;;
    --wheelhouse) wheelhouse=$(realpath "${2:?}"); shift 2 ;;
    --wheelhouse-port) wheel_port=${2:?}; shift 2 ;;
    --torch-version) torch_version=${2:?}; shift 2 ;;
    --site-ca) site_cas+=("$(realpath "${2:?}")"); shift 2 ;;
    --cache) cache=$(realpath -m "${2:?}"); shift 2 ;;
    --timeout) timeout_s=${2:?}; shift 2 ;;
    --keep) keep=true; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "compose_smoke: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$series" && -d "$series" ]] || { echo "compose_smoke: --series must name a folder of DICOM files" >&2; exit 2; }
[[ -z "$weights" || -d "$weights" ]] || { echo "compose_smoke: --weights $weights is not a folder" >&2; exit 2; }
if [[ -n "$weights" ]] && ! setpriv --reuid 1000 --regid 1000 --clear-groups test -r "$weights" -a -x "$weights" 2>/dev/null; then
  echo "compose_smoke: --weights $weights cannot be read by the containers' user (uid 1000): chmod -R a+rX it" >&2; exit 2
fi

started=$(date +%s.%N)
step_start=$started
step() {  # print the time of the step that ended, then announce the next one
  local now; now=$(date +%s.%N)
  if [[ -n "${step_name:-}" ]]; then
    awk -v n="$step_name" -v a="$step_start" -v b="$now" 'BEGIN { printf "compose_smoke: %-44s %7.1f s\n", n, b - a }'
  fi
  step_name=$1; step_start=$now
}
fail() { echo "compose_smoke: FAILED: $*" >&2; exit 1; }
skip() { echo "compose_smoke: SKIPPED: $* (Docker cannot run here)" >&2; exit 3; }

[[ $(id -u) == 0 ]] || skip "needs root (dockerd, ip netns)"
for tool in docker dockerd ip nsenter curl storescu awk; do command -v "$tool" >/dev/null || skip "'$tool' is not installed"; done
if command -v docker-compose >/dev/null; then compose_cmd=(docker-compose); else compose_cmd=(docker compose); fi

work=$(mktemp -d /tmp/boa-smoke.XXXXXX)
netns=boa-smoke-$$
export DOCKER_HOST=unix://$work/docker.sock DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
dockerd_pid=; wheel_pid=
mkdir -p "$cache/engine"

stop_dockerd() {
  [[ -n "$dockerd_pid" ]] || return 0
  kill "$dockerd_pid" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$dockerd_pid" 2>/dev/null || true
  dockerd_pid=
}
start_dockerd() {  # start_dockerd [netns]: the engine (and the containers it starts) in that namespace
  local prefix=()  # nsenter, not 'ip netns exec': that one remounts /sys, and dockerd needs its cgroups
  [[ -n "${1:-}" ]] && prefix=(nsenter "--net=/run/netns/$1")
  rm -f "$work/docker.sock"
  setsid "${prefix[@]}" dockerd --bridge=none --iptables=false --ip-masq=false --ip6tables=false \
    --data-root "$cache/engine" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
    --host "$DOCKER_HOST" > "$work/dockerd${1:+-netns}.log" 2>&1 < /dev/null &
  dockerd_pid=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && return 0; kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
  tail -5 "$work/dockerd${1:+-netns}.log" >&2
  stop_dockerd
  skip "dockerd did not start"
}
compose_files=(-f docker-compose.yml -f scripts/compose.hostnet.yml -f "$work/smoke.yml")
compose() { "${compose_cmd[@]}" -p boa-smoke --env-file "$work/env" "${compose_files[@]}" --profile cpu "$@"; }
render_without_ports() {  # docker-compose 1.29 refuses published ports on the host network
  [[ "${compose_cmd[*]}" == docker-compose ]] || return 0
  (umask 077; compose config > "$work/compose.rendered.yml")
  /usr/bin/python3 - "$work/compose.rendered.yml" <<'PY'
import sys, yaml
path = sys.argv[1]
with open(path) as f:
    config = yaml.safe_load(f)
for service in config["services"].values():
    service.pop("ports", None)
with open(path, "w") as f:
    yaml.safe_dump(config, f, sort_keys=False)
PY
  compose_files=(-f "$work/compose.rendered.yml")
}
teardown() {
  local rc=$?
  set +e
  if [[ -n "$dockerd_pid" && -f "$work/env" ]]; then
    if [[ $rc != 0 ]]; then compose logs --no-color > "$work/compose.log" 2>&1; tail -40 "$work/compose.log" >&2; fi
    compose down -v --remove-orphans > /dev/null 2>&1
  fi
  stop_dockerd
  [[ -n "$wheel_pid" ]] && kill "$wheel_pid" 2>/dev/null
  ip netns del "$netns" 2>/dev/null
  findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -f scripts/site-ca/smoke-*.crt
  if [[ $keep == true || $rc != 0 ]]; then echo "compose_smoke: work folder kept: $work" >&2; else rm -rf "$work"; fi
  exit $rc
}
trap teardown EXIT

step "build engine start"
start_dockerd

step "base image"
if ! docker image inspect boa-base:bookworm >/dev/null 2>&1; then
  bash scripts/make_base_image.sh --tag boa-base:bookworm --cache "$cache/base-bookworm.tar" || exit 4
fi

step "image builds"
build_args=(--build-arg BASE_IMAGE=boa-base:bookworm --build-arg TORCH_VERSION="$torch_version")
if [[ -n "$wheelhouse" ]]; then
  # A fixed address: the build argument is part of the layer cache's key.
  setsid python3 -m http.server "$wheel_port" --bind 127.0.0.1 --directory "$wheelhouse" > "$work/wheelhouse.log" 2>&1 &
  wheel_pid=$!
  for _ in $(seq 20); do curl -fsS -o /dev/null "http://127.0.0.1:$wheel_port/" 2>/dev/null && break; sleep 0.5; done
  kill -0 "$wheel_pid" 2>/dev/null || { cat "$work/wheelhouse.log" >&2; echo "compose_smoke: cannot serve the wheelhouse on 127.0.0.1:$wheel_port (--wheelhouse-port)" >&2; exit 2; }
  build_args+=(--build-arg TORCH_FIND_LINKS="http://127.0.0.1:$wheel_port/")
fi
i=0
for ca in "${site_cas[@]}"; do cp "$ca" "scripts/site-ca/smoke-$i.crt"; i=$((i + 1)); done
build() {  # build TAG DOCKERFILE [TARGET]
  local t0; t0=$(date +%s)
  docker build --network host -q -f "$2" ${3:+--target "$3"} "${build_args[@]}" -t "$1" . > "$work/build-$1.log" 2>&1 \
    || { tail -30 "$work/build-$1.log" >&2; echo "compose_smoke: build of $1 failed" >&2; exit 4; }
  printf 'compose_smoke:   %-20s %5d s\n' "$1" $(( $(date +%s) - t0 ))
}
build boa-orthanc scripts/Dockerfile.orthanc
build boa-rabbitmq scripts/Dockerfile.rabbitmq
build boa-postgres scripts/Dockerfile.postgres
build boa-worker-cpu scripts/Dockerfile.boa worker
build boa-cli scripts/Dockerfile.boa cli
[[ -n "$wheel_pid" ]] && { kill "$wheel_pid"; wheel_pid=; }
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^boa-' | sed 's/^/compose_smoke:   size /'

step "engine restart in a loopback-only namespace"
stop_dockerd
ip netns add "$netns"
ip netns exec "$netns" ip link set lo up
start_dockerd "$netns"

step "stack up (healthy)"
bash scripts/init_env.sh --file "$work/env" --allowed-aets "SMOKE@127.0.0.1:11112" > /dev/null
set_env() { sed -i "s|^$1=.*|$1=$2|" "$work/env"; }
orthanc_user=$(sed -n 's/^ORTHANC_USERNAME=//p' "$work/env")
orthanc_password=$(sed -n 's/^ORTHANC_PASSWORD=//p' "$work/env")
mkdir -p "$work/results" "$work/no-weights" "$work/cli-out"
chown 1000:1000 "$work/results" "$work/cli-out"
set_env RESULTS_HOST_DIR "$work/results"
set_env WEIGHTS_HOST_DIR "${weights:-$work/no-weights}"
set_env ORTHANC_STABLE_AGE 3
set_env TRIGGER_POLL_S 2
set_env PACS_MODEL "$model"
set_env BCA_ENGINE "$bca_engine"
set_env DEVICE cpu
set_env ALLOW_STAND_IN_RESULTS "$allow_stand_in"
set_env DICOMWEB_URL http://127.0.0.1:8042/dicom-web
set_env DICOMWEB_USERNAME "$orthanc_user"
set_env DICOMWEB_PASSWORD "$orthanc_password"
# Short health intervals, so that 'up' waits seconds rather than minutes.
cat > "$work/smoke.yml" <<'EOF'
x-fast-health: &fast-health {interval: 3s, timeout: 10s, retries: 20, start_period: 5s}
services:
  orthanc: {healthcheck: *fast-health}
  rabbitmq: {healthcheck: *fast-health}
  postgres: {healthcheck: *fast-health}
  trigger: {healthcheck: *fast-health}
  worker-cpu: {healthcheck: *fast-health}
EOF
render_without_ports
compose up -d --no-build > "$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "docker-compose up"; }

in_netns() { ip netns exec "$netns" "$@"; }
orthanc_get() {  # orthanc_get PATH [curl options]; the credentials reach curl on its standard input
  local path=$1; shift
  printf 'user = "%s:%s"\n' "$orthanc_user" "$orthanc_password" | in_netns curl -fsS -K - "$@" "http://127.0.0.1:8042$path"
}
# 'up' waits for the services the others depend on; wait for every container to be healthy.
unhealthy=
for _ in $(seq 100); do
  unhealthy=$(compose ps -q | xargs -r docker inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' | grep -v ' healthy$' || true)
  [[ -z "$unhealthy" ]] && break
  sleep 3
done
[[ -z "$unhealthy" ]] || fail "not healthy after 300 s: $(echo $unhealthy)"

step "C-STORE of the series"
in_netns storescu -xv -aet SMOKE -aec BOA +sd +r 127.0.0.1 4242 "$series" > "$work/storescu.log" 2>&1 \
  || { tail -5 "$work/storescu.log" >&2; fail "storescu could not send $series"; }
sent=$(find "$series" -type f | wc -l)
echo "compose_smoke:   sent $sent files"

step "job (trigger, queue, worker, delivery)"
sql() { compose exec -T postgres sh -c 'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Atc "$0"' "$1" 2>/dev/null; }
state=
deadline=$(( $(date +%s) + timeout_s ))
while (( $(date +%s) < deadline )); do
  state=$(sql "SELECT state FROM jobs ORDER BY created_at DESC LIMIT 1" || true)
  case "$state" in delivered|partially_delivered|failed|refused) break ;; esac
  sleep 3
done
echo "compose_smoke:   job state: ${state:-none}"
[[ "$state" == delivered ]] || { compose logs --no-color worker-cpu trigger 2>&1 | tail -40 >&2; fail "the job is '${state:-not there}', not delivered"; }

step "checks"
for modality in SEG SR DOC; do
  found=$(orthanc_get /tools/find -d "{\"Level\":\"Series\",\"Query\":{\"Modality\":\"$modality\"}}" || true)
  [[ "$found" != "[]" && -n "$found" ]] || fail "no $modality series came back to Orthanc"
  echo "compose_smoke:   Orthanc has a $modality series"
done
for pattern in '*.pdf' '*.xlsx' '*.json'; do
  [[ -n "$(find "$work/results" -type f -name "$pattern" -print -quit)" ]] || fail "no $pattern in the result folder"
done
echo "compose_smoke:   result folder: $(find "$work/results" -type f | wc -l) files (PDF, workbook, JSON among them)"
delivered_rows=$(sql "SELECT count(*) FROM jobs WHERE state = 'delivered'")
[[ "$delivered_rows" -ge 1 ]] || fail "the statistics database has no delivered job"
echo "compose_smoke:   statistics database: $delivered_rows job(s) delivered"

step "cli image as non-root on a mounted folder"
run_cli=(docker run --rm --network host --read-only --tmpfs /tmp --security-opt no-new-privileges:true --user 1000:1000)
"${run_cli[@]}" -v "$series:/data:ro" -v "$work/cli-out:/out" boa-cli -i /data -o /out -m bca --bca-engine threshold \
  > "$work/cli.log" 2>&1 || { tail -20 "$work/cli.log" >&2; fail "the cli image did not write its results to /out"; }
[[ -n "$(find "$work/cli-out" -name '*.xlsx' -print -quit)" ]] || fail "the cli image wrote no workbook to /out"
[[ -z "$(find "$work/cli-out" -name '.boa-staging-*' -print -quit)" ]] || fail "the cli image left a staging folder in /out"
echo "compose_smoke:   /out: $(find "$work/cli-out" -type f | wc -l) files"
mkdir -m 700 "$work/unreadable-weights"
cli_rc=0
"${run_cli[@]}" -v "$work/unreadable-weights:/weights:ro" boa-cli --version > "$work/cli-unreadable.log" 2>&1 || cli_rc=$?
[[ $cli_rc == 13 ]] && grep -q "cannot be read" "$work/cli-unreadable.log" \
  || fail "an unreadable /weights gave exit $cli_rc without the message (see $work/cli-unreadable.log)"
echo "compose_smoke:   unreadable /weights refused with exit 13"

step "teardown"
compose down -v --remove-orphans > /dev/null 2>&1
stop_dockerd
step "done"
awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "compose_smoke: PASSED in %.0f s\n", b - a }'
