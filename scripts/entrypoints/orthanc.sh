#!/bin/sh
# Write Orthanc's configuration from the environment into /tmp (the root file system
# may be read-only; the configuration holds the password, so never in a layer), then start Orthanc.
set -eu
config=/tmp/orthanc/orthanc.json
python3 /opt/boa/write_config.py "$config"
chmod 600 "$config"
exec Orthanc "$config"
