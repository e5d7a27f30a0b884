#!/bin/sh
# Write Orthanc's configuration from the environment, then start Orthanc.
set -eu
python3 /opt/boa/write_config.py
exec Orthanc /etc/orthanc/boa/orthanc.json
