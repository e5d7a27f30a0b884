"""Write Orthanc's configuration from the environment (run by the orthanc image's entrypoint).

Authentication is always on; only the AE titles in ORTHANC_ALLOWED_AETS may
send (unless ORTHANC_ACCEPT_ANY_AET=true). ORTHANC_ALLOWED_AETS is a comma
separated list of AET or AET@host:port.
"""

import json
import os
import sys


def modalities(text: str) -> dict:
    found = {}
    for i, item in enumerate(x.strip() for x in text.split(",") if x.strip()):
        aet, _, address = item.partition("@")
        host, _, port = address.partition(":")
        found[f"modality{i}"] = [aet, host or "127.0.0.1", int(port or 104)]
    return found


def main(argv: list[str]) -> int:
    env = os.environ
    target = argv[0] if argv else "/etc/orthanc/boa/orthanc.json"
    for name in ("ORTHANC_USERNAME", "ORTHANC_PASSWORD"):
        if not env.get(name):
            print(f"{name} must be set", file=sys.stderr)
            return 1
    allowed = modalities(env.get("ORTHANC_ALLOWED_AETS", ""))
    accept_any = env.get("ORTHANC_ACCEPT_ANY_AET", "false").lower() == "true"
    config = {
        "Name": "body-organ-analysis",
        "StorageDirectory": "/var/lib/orthanc/db",
        "IndexDirectory": "/var/lib/orthanc/db",
        "HttpPort": 8042,
        "DicomPort": 4242,
        "DicomAet": env.get("ORTHANC_AET", "BOA"),
        "DicomCheckCalledAet": True,
        "RemoteAccessAllowed": True,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {env["ORTHANC_USERNAME"]: env["ORTHANC_PASSWORD"]},
        "DicomAlwaysAllowEcho": accept_any,
        "DicomAlwaysAllowStore": accept_any,
        "DicomCheckModalityHost": all(m[1] != "127.0.0.1" for m in allowed.values()) and bool(allowed),
        "DicomModalities": allowed,
        "StableAge": int(env.get("ORTHANC_STABLE_AGE", "60")),
        "DeidentifyLogs": True,
        "OverwriteInstances": True,  # deterministic output UIDs: a rerun replaces its objects
        "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as out:
        json.dump(config, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
