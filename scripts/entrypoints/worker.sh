#!/bin/sh
# Worker and trigger images. Weights: a non-empty mounted /weights wins over the
# weights baked into the image (/opt/boa/weights); neither hides the other.
set -eu
if [ -z "${TOTALSEG_WEIGHTS_PATH:-}" ]; then
  if [ -n "$(ls -A /weights 2>/dev/null)" ]; then
    export TOTALSEG_WEIGHTS_PATH=/weights
  else
    export TOTALSEG_WEIGHTS_PATH=/opt/boa/weights
  fi
fi
case "${1:-worker}" in
  worker) shift || true; exec python -m body_organ_analysis.pacs.worker "$@" ;;
  trigger) exec python -m body_organ_analysis.pacs.trigger ;;
  health) exec python -m body_organ_analysis.pacs.health ;;
  *) exec "$@" ;;
esac
