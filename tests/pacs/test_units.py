"""PACS pieces without services: settings, paths, job keys, the series filter, the SQLite store."""

from __future__ import annotations

import logging

import pytest

from body_organ_analysis.errors import OutputError, UsageError
from body_organ_analysis.pacs.jobs import job_key
from body_organ_analysis.pacs.paths import destination, inside, keyed_hash, load_path_key, safe_part
from body_organ_analysis.pacs.privacy import Redactor
from body_organ_analysis.pacs.settings import WORKER_VARIABLES, build_worker_settings
from body_organ_analysis.pacs.stats import StatsStore, StoreUnavailable
from body_organ_analysis.pacs.trigger import rejection_reason

REQUIRED = {"ORTHANC_USERNAME": "u", "ORTHANC_PASSWORD": "p", "RABBITMQ_USER": "r", "RABBITMQ_PASSWORD": "s/e@cret"}


def test_required_variables_are_one_clear_error():
    with pytest.raises(UsageError) as error:
        build_worker_settings({})
    assert all(name in str(error.value) for name in REQUIRED)


def test_settings_from_environment(tmp_path):
    settings = build_worker_settings({**REQUIRED, "PACS_MODEL": "total+nonsense", "FAST_TOTAL": "1",
                                      "POSTGRES_HOST": "db", "POSTGRES_PASSWORD": "x", "SMB_PORT": "1445"})
    assert settings.models == ("total",)
    assert settings.broker_url == "amqp://r:s%2Fe%40cret@rabbitmq:5672/%2F"
    assert settings.postgres is not None and settings.postgres["host"] == "db"
    assert settings.smb_port == 1445 and settings.delete_source
    assert (settings.dicomweb_url, settings.dicomweb_username) == (None, "")
    assert not settings.allow_stand_in_results and not settings.identifying_paths
    analysis = settings.analysis_settings(tmp_path / "in.zip", tmp_path / "out")
    assert analysis.fast_total and analysis.models == ("total",)


def test_dicomweb_target_is_explicit():
    """No DICOMweb delivery unless configured; never Orthanc's credentials borrowed, never a default host."""
    assert build_worker_settings(REQUIRED).dicomweb_url is None
    with pytest.raises(UsageError, match="DICOMWEB_USERNAME"):  # Orthanc's own DICOMweb: still explicit
        build_worker_settings({**REQUIRED, "ORTHANC_URL": "http://orthanc:8042",
                               "DICOMWEB_URL": "http://orthanc:8042/dicom-web"})
    given = build_worker_settings({**REQUIRED, "DICOMWEB_URL": "https://pacs.example/dicom-web/",
                                   "DICOMWEB_USERNAME": "w", "DICOMWEB_PASSWORD": "x"})
    assert (given.dicomweb_url, given.dicomweb_username, given.dicomweb_password) == (
        "https://pacs.example/dicom-web", "w", "x")
    anonymous = build_worker_settings({**REQUIRED, "DICOMWEB_URL": "https://pacs.example/dicom-web",
                                       "DICOMWEB_AUTH": "none", "DICOMWEB_USERNAME": "ignored"})
    assert (anonymous.dicomweb_username, anonymous.dicomweb_password) == ("", "")
    for bad in ({"DICOMWEB_URL": "pacs.example/dicom-web", "DICOMWEB_AUTH": "none"}, {"DICOMWEB_AUTH": "token"}):
        with pytest.raises(UsageError):
            build_worker_settings({**REQUIRED, **bad})


SECRETS = {"ORTHANC_PASSWORD": "orth@nc/Secret1", "RABBITMQ_PASSWORD": "r@bbit/Secret2",
           "POSTGRES_PASSWORD": "p@g/Secret3 'x", "SMB_PASSWORD": "smb@/Secret4", "DICOMWEB_PASSWORD": "dw@/Secret5",
           "RESULT_PATH_KEY": "k" * 40}


def test_secrets_never_in_repr_or_str(caplog):
    settings = build_worker_settings({**REQUIRED, **SECRETS, "POSTGRES_HOST": "db", "SMB_HOST": "nas",
                                      "SMB_SHARE": "s", "DICOMWEB_URL": "https://pacs/dicom-web",
                                      "DICOMWEB_USERNAME": "w"})
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings: %s %r", settings, settings)
    for text in (repr(settings), str(settings), caplog.text):
        for secret in SECRETS.values():
            assert secret not in text and secret.split("/")[-1] not in text
    assert settings.orthanc_password == SECRETS["ORTHANC_PASSWORD"]  # kept, only not shown


def test_postgres_connection_from_keywords_with_any_password():
    """'@', '/', a space and a quote in the password: passed as one keyword, never parsed from a DSN."""
    settings = build_worker_settings({**REQUIRED, "POSTGRES_HOST": "db.example", "POSTGRES_PORT": "6543",
                                      "POSTGRES_PASSWORD": SECRETS["POSTGRES_PASSWORD"], "POSTGRES_USER": "u@x"})
    assert settings.postgres == {"host": "db.example", "port": 6543, "dbname": "boa", "user": "u@x",
                                 "password": SECRETS["POSTGRES_PASSWORD"], "connect_timeout": 10}


def test_unknown_models_dropped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        build_worker_settings({**REQUIRED, "PACS_MODEL": "total+bogus"})
    assert "bogus" in caplog.text
    with pytest.raises(UsageError):
        build_worker_settings({**REQUIRED, "PACS_MODEL": "bogus"})


@pytest.mark.parametrize("variable, value", [("POSTGRES_HOST", "db"), ("SMB_HOST", "nas"), ("DEVICE", "tpu")])
def test_incomplete_or_invalid_settings_refused(variable, value):
    with pytest.raises(UsageError):
        build_worker_settings({**REQUIRED, variable: value})


KEY = b"0123456789abcdef0123456789abcdef"
TAGS = {"StudyInstanceUID": "1.2.3", "SeriesInstanceUID": "1.2.3.4", "StudyDate": "20240101",
        "AccessionNumber": "A/../..\\x", "SeriesNumber": "..", "PatientName": "Doe^John",
        "PatientBirthDate": "19700101", "PatientID": "PID77"}


def test_default_destination_is_a_keyed_hash_of_the_uids():
    import hashlib
    import hmac

    path = destination(TAGS, "../../AET", KEY)
    study = hmac.new(KEY, b"study\x1f1.2.3", hashlib.sha256).hexdigest()[:24]  # independent HMAC-SHA256
    series = hmac.new(KEY, b"series\x1f1.2.3\x1f1.2.3.4", hashlib.sha256).hexdigest()[:24]
    assert path == f"AET/{study}/{series}"
    for value in ("2024", "A_x", "Doe", "John", "1970", "PID77", "1.2.3"):
        assert value not in path, value
    assert destination(TAGS, "AET", b"another key of thirty-two bytes!") != path  # the key matters
    other_series = destination({**TAGS, "SeriesInstanceUID": "1.2.3.5"}, "AET", KEY).split("/")
    assert other_series[1] == path.split("/")[1] and other_series[2] != path.split("/")[2]


def test_identifying_destination_only_when_opted_in():
    path = destination(TAGS, None, KEY, identifying=True)
    aet, study, series = path.split("/")
    assert aet == "UNKNOWN_AET" and study == "Doe_John_19700101_20240101_A_x"
    assert series == f"x_{keyed_hash(KEY, 'series', '1.2.3', '1.2.3.4')}"
    assert destination({"StudyInstanceUID": "9"}, "CT", KEY, identifying=True).split("/")[1] == (
        f"noname_nobirthdate_nodate_{keyed_hash(KEY, 'study', '9')[:12]}")


def test_path_key_generated_once_with_private_permissions(tmp_path):
    key_file = tmp_path / "state" / "result-path.key"
    first = load_path_key("", key_file)
    assert len(first) == 64 and (key_file.stat().st_mode & 0o777) == 0o600
    assert load_path_key("", key_file) == first  # read back, not regenerated
    assert load_path_key("e" * 32, key_file) == b"e" * 32  # the environment wins
    with pytest.raises(UsageError):
        load_path_key("short", key_file)
    key_file.write_text("x\n")
    with pytest.raises(UsageError):
        load_path_key("", key_file)


def test_redactor_removes_every_identifying_value():
    redact = Redactor.for_tags({**TAGS, "InstitutionName": "St. Canary Hospital", "Modality": "CT"}, "Doe_John_1970")
    text = ("SMB error at \\\\nas\\share\\Doe_John_1970\\x: JOHN doe, PID77, 20240101, "
            "st. canary hospital, A/../..\\x; CT 1.2.3")
    cleaned = redact(text)
    for value in ("Doe", "JOHN", "PID77", "20240101", "canary", "Doe_John_1970"):
        assert value.lower() not in cleaned.lower(), value
    assert cleaned.startswith("SMB error at") and "CT" in cleaned
    assert Redactor([])("unchanged") == "unchanged" and redact(None) is None


@pytest.mark.parametrize("value", ["..", ".", "", "/", "...", "\x00", "a" * 300])
def test_safe_part_never_traverses(value):
    part = safe_part(value)
    assert part not in ("", ".", "..") and "/" not in part and len(part) <= 64


def test_inside_refuses_escapes(tmp_path):
    assert inside(tmp_path, "a/b/c") == tmp_path.resolve() / "a/b/c"
    for bad in ("../x", "/etc", "a/../../x", "a//b", ""):
        with pytest.raises(OutputError):
            inside(tmp_path, bad)
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(OutputError):
        inside(tmp_path, "link/etc")


def test_job_key_depends_on_instances_not_their_order():
    assert job_key("s", ["a", "b"]) == job_key("s", ["b", "a"])
    assert job_key("s", ["a", "b"]) != job_key("s", ["a", "b", "c"])
    assert job_key("s", ["a"]) != job_key("t", ["a"])


CT = {"Modality": "CT", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.2", "ImageType": "ORIGINAL\\PRIMARY\\AXIAL",
      "ImageOrientationPatient": "1\\0\\0\\0\\1\\0", "Manufacturer": "SIEMENS"}


@pytest.mark.parametrize("change, reason", [
    ({}, None),
    ({"Modality": "MR"}, "modality MR is not CT"),
    ({"Modality": "SEG", "Manufacturer": "body-organ-analysis"}, "our own output stored back"),
    ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.7"}, "not a CT image storage object (e.g. secondary capture)"),
    ({"ImageType": "ORIGINAL\\PRIMARY\\LOCALIZER"}, "image type LOCALIZER"),
    ({"ImageType": "DERIVED\\SECONDARY\\AXIAL"}, "image type DERIVED/SECONDARY"),
    ({"ImageOrientationPatient": "1\\0\\0\\0\\0\\-1"}, "not axial"),
    ({"ImageOrientationPatient": ""}, "no usable image orientation"),
])
def test_series_filter(change, reason):
    tags = {**CT, **change}
    series = {"MainDicomTags": {"Modality": tags["Modality"]}, "Instances": [str(i) for i in range(20)]}
    assert rejection_reason(series, tags, 10) == reason


def test_series_filter_counts_slices():
    series = {"MainDicomTags": {"Modality": "CT"}, "Instances": ["1", "2"]}
    assert rejection_reason(series, CT, 10) == "2 slices, fewer than MIN_SLICES=10"


def test_sqlite_store(tmp_path):
    store = StatsStore(None, tmp_path / "stats.sqlite")
    with pytest.raises(StoreUnavailable):  # an unreachable database is one error type, without details
        StatsStore({"host": "127.0.0.1", "port": 1, "dbname": "x", "user": "u", "password": "p@/w",
                    "connect_timeout": 2}).migrate()
    assert store.migrate() == store.migrate() == 1
    assert store.create_job("k", "series", 20, "CT1")
    assert not store.create_job("k", "series", 20, "CT1")
    assert store.unqueued_jobs() == [("k", "series")]
    assert store.unqueued_jobs(older_than_s=60) == []  # just created: another trigger may be publishing it
    store.mark_queued("k")
    assert store.unqueued_jobs() == []
    assert store.begin_attempt("k", 2) == ("queued", 1)
    assert store.begin_attempt("k", 2) == ("running", 2)
    assert store.begin_attempt("k", 2) == ("exhausted", 2)
    store.finish("k", "delivered", timings_s={"download": 1.5}, sinks={"folder": {"ok": True}})
    store.create_job("r", "series-r", 20, "CT1")
    store.finish("r", "refused", "stand-in weights")
    assert store.begin_attempt("r", 5) == ("refused", 0)  # final: never run again
    job = store.job("k")
    assert job["state"] == "delivered" and job["timings_s"] == {"download": 1.5} and job["attempts"] == 2
    assert store.begin_attempt("k", 5) == ("delivered", 2)
    assert store.begin_attempt("missing", 5) is None
    store.record_rejected("s2", "not axial")
    store.record_rejected("s2", "not CT")
    assert store.rejected() == {"s2": "not CT"}
    store.set_value("cursor", "5")
    store.set_value("cursor", "7")
    assert store.get_value("cursor") == "7"
    with pytest.raises(ValueError):
        store.finish("k", "lost")


def test_all_worker_variables_have_defaults_or_are_required():
    assert set(REQUIRED) == {k for k, v in WORKER_VARIABLES.items() if v is None}


@pytest.mark.parametrize("module", ["worker", "trigger"])
def test_help_names_the_variables_but_no_secret(module, tmp_path):
    import os
    import subprocess
    import sys

    from body_organ_analysis.pacs.settings import SECRET_VARIABLES

    env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **REQUIRED, **SECRETS}
    shown = subprocess.run([sys.executable, "-m", f"body_organ_analysis.pacs.{module}", "--help"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "RABBITMQ_PASSWORD" in shown.stdout and "ALLOW_STAND_IN_RESULTS" in shown.stdout
    for secret in (*SECRETS.values(), REQUIRED["RABBITMQ_PASSWORD"]):
        assert secret not in shown.stdout + shown.stderr
    assert SECRET_VARIABLES <= set(WORKER_VARIABLES)
    assert list(tmp_path.iterdir()) == []  # --help touched nothing
