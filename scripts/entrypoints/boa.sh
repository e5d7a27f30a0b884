#!/bin/sh
# Entrypoint of the body-organ-analysis images (cli, worker, worker-gpu, ui).
# Weights: a non-empty /weights (mounted read-only) wins over weights baked into
# the image (/opt/boa/weights); neither hides the other.
set -eu
if [ -z "${TOTALSEG_WEIGHTS_PATH:-}" ]; then
  if [ -d /weights ] && ! { [ -r /weights ] && [ -x /weights ]; }; then
    echo "boa-entrypoint: the folder mounted at /weights cannot be read by user $(id -u):" \
      "make it readable on the host (chmod -R a+rX FOLDER) or mount another one" >&2
    exit 13  # WEIGHTS_MISSING (docs/exit_codes.md)
  fi
  if [ -n "$(ls -A /weights)" ]; then
    export TOTALSEG_WEIGHTS_PATH=/weights
  else
    export TOTALSEG_WEIGHTS_PATH=/opt/boa/weights
  fi
fi
mkdir -p "${MPLCONFIGDIR:-/tmp/matplotlib}"
command=${1:-worker}
[ $# -gt 0 ] && shift
case "$command" in
  cli) exec body_organ_analysis "$@" ;;
  worker) exec python -m body_organ_analysis.pacs.worker "$@" ;;
  trigger) exec python -m body_organ_analysis.pacs.trigger "$@" ;;
  health) exec python -m body_organ_analysis.pacs.health "$@" ;;
  ui) exec body_organ_analysis ui --host 0.0.0.0 --port 8501 --results-dir /results/ui "$@" ;;
  *) exec "$command" "$@" ;;
esac
