"""PACS pieces without services: settings, paths, job keys, the series filter, the SQLite store."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from body_organ_analysis.errors import OutputError, UsageError
from body_organ_analysis.pacs.jobs import job_key
from body_organ_analysis.pacs.paths import destination, inside, safe_part, short_hash
from body_organ_analysis.pacs.settings import WORKER_VARIABLES, build_worker_settings
from body_organ_analysis.pacs.stats import StatsStore
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
    assert settings.postgres_dsn is not None and "host=db" in settings.postgres_dsn
    assert settings.smb_port == 1445 and settings.delete_source
    assert (settings.dicomweb_url, settings.dicomweb_username) == (None, "")
    into_orthanc = build_worker_settings({**REQUIRED, "DICOMWEB_URL": "http://orthanc:8042/dicom-web"})
    assert (into_orthanc.dicomweb_username, into_orthanc.dicomweb_password) == ("u", "p")
    elsewhere = build_worker_settings({**REQUIRED, "DICOMWEB_URL": "https://pacs.example/dicom-web"})
    assert elsewhere.dicomweb_username == ""
    analysis = settings.analysis_settings(tmp_path / "in.zip", tmp_path / "out")
    assert analysis.fast_total and analysis.models == ("total",)


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


def test_destination_is_non_identifying_and_safe():
    tags = {"StudyInstanceUID": "1.2.3", "SeriesInstanceUID": "1.2.3.4", "StudyDate": "20240101",
            "AccessionNumber": "A/../..\\x", "SeriesNumber": "..", "PatientName": "Doe^John",
            "PatientBirthDate": "19700101"}
    path = destination(tags, "../../AET")
    assert path == f"AET/20240101_A_x/x_{short_hash('1.2.3.4')}"
    assert "Doe" not in path and "1970" not in path
    assert destination(tags, None, patient_info=True).split("/")[1] == "Doe_John_19700101_20240101_A_x"
    assert destination({"StudyInstanceUID": "9"}, "CT").split("/")[1] == f"nodate_{short_hash('9')}"


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
    assert store.migrate() == store.migrate() == 1
    assert store.create_job("k", "series", 20, "CT1")
    assert not store.create_job("k", "series", 20, "CT1")
    assert store.unqueued_jobs() == [("k", "series")]
    store.mark_queued("k")
    assert store.unqueued_jobs() == []
    assert store.begin_attempt("k", 2) == ("queued", 1)
    assert store.begin_attempt("k", 2) == ("running", 2)
    assert store.begin_attempt("k", 2) == ("exhausted", 2)
    store.finish("k", "delivered", timings_s={"download": 1.5}, sinks={"folder": {"ok": True}})
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
