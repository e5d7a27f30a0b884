#!/usr/bin/env bash
# Write .env for docker-compose from .env_sample, with freshly generated secrets, when there is none.
# Usage: bash scripts/init_env.sh [--allowed-aets 'AET@host:port,...'] [--file PATH] [--force]
#   --allowed-aets  AE titles that may send to Orthanc (ORTHANC_ALLOWED_AETS); without it the
#                   value stays empty and docker-compose refuses to start until it is filled in
#   --file          where to write (default: .env beside docker-compose.yml)
#   --force         replace an existing file (its secrets are lost)
# Secrets are written to the file only (mode 0600), never printed.
# Exit codes: 0 written (or already there), 2 bad arguments, 3 no random source.
set -euo pipefail
cd "$(dirname "$0")/.."
target=.env
aets=
force=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --allowed-aets) aets=${2:?--allowed-aets needs AE titles}; shift 2 ;;
    --file) target=${2:?--file needs a path}; shift 2 ;;
    --force) force=true; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "init_env: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [[ -e "$target" && $force == false ]]; then
  echo "init_env: $target exists; kept as it is (--force replaces it)"
  exit 0
fi
[[ -r /dev/urandom ]] || { echo "init_env: /dev/urandom is not readable" >&2; exit 3; }
secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

umask 077
tmp=$(mktemp "$target.XXXXXX")
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line || [[ -n "$line" ]]; do
  case "$line" in
    ORTHANC_USERNAME=) line="ORTHANC_USERNAME=boa" ;;
    ORTHANC_PASSWORD=) line="ORTHANC_PASSWORD=$(secret)" ;;
    RABBITMQ_USER=) line="RABBITMQ_USER=boa" ;;
    RABBITMQ_PASSWORD=) line="RABBITMQ_PASSWORD=$(secret)" ;;
    POSTGRES_PASSWORD=) line="POSTGRES_PASSWORD=$(secret)" ;;
    RESULT_PATH_KEY=) line="RESULT_PATH_KEY=$(secret)" ;;
    ORTHANC_ALLOWED_AETS=) line="ORTHANC_ALLOWED_AETS=$aets" ;;
  esac
  printf '%s\n' "$line"
done < .env_sample > "$tmp"
mv "$tmp" "$target"
trap - EXIT
echo "init_env: wrote $target (generated: ORTHANC_PASSWORD, RABBITMQ_PASSWORD, POSTGRES_PASSWORD, RESULT_PATH_KEY)"
if [[ -z "$aets" ]]; then
  echo "init_env: ORTHANC_ALLOWED_AETS is empty: fill in the AE titles of your scanners before 'docker compose up'"
fi
