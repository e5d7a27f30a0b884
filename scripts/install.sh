#!/usr/bin/env bash
# Create .venv and install body-organ-analysis with everything its tests need.
# Usage: bash scripts/install.sh [--system]   (--system: also the Debian packages
# of the PACS integration tests, the PDF checks and the browser tests of the UI; needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--system" ]]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends \
    orthanc orthanc-dicomweb orthanc-python rabbitmq-server samba dcmtk postgresql docker-compose dicom3tools \
    poppler-utils iproute2 util-linux chromium chromium-driver docker.io debootstrap
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e ".[pacs,test,radiomics,ui]"
