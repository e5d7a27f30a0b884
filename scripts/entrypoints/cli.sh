#!/bin/sh
# The command-line image: every argument goes to body_organ_analysis.
# Weights: a non-empty mounted /weights wins over those baked in (/opt/boa/weights).
set -eu
if [ -z "${TOTALSEG_WEIGHTS_PATH:-}" ]; then
  if [ -n "$(ls -A /weights 2>/dev/null)" ]; then
    export TOTALSEG_WEIGHTS_PATH=/weights
  else
    export TOTALSEG_WEIGHTS_PATH=/opt/boa/weights
  fi
fi
exec body_organ_analysis "$@"
