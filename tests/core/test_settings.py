from pathlib import Path

import pytest

from body_organ_analysis.options import build_parser, settings_from_args
from body_organ_analysis.errors import UsageError
from body_organ_analysis.settings import build_settings

BASE = ["-i", "ct.nii.gz", "-o", "out"]


def settings_for(argv, environ=None):
    return settings_from_args(build_parser().parse_args(BASE + argv), environ or {})


def test_defaults():
    settings = settings_for([])
    assert settings.models == ("total",)
    assert settings.runtime.device == "auto"
    assert settings.fast_total is False and settings.runtime.offline is False
    assert settings.input_image == Path("ct.nii.gz")


@pytest.mark.parametrize("word,expected", [("1", True), ("TRUE", True), ("true", True), ("0", False), ("False", False)])
def test_boolean_environment_variables(word, expected):
    settings = settings_for([], {"FAST_TOTAL": word, "VERBOSE": word, "BOA_OFFLINE": word})
    assert (settings.fast_total, settings.runtime.verbose, settings.runtime.offline) == (expected,) * 3


def test_flag_wins_over_environment():
    settings = settings_for(["-d", "cpu", "--fast-total"], {"DEVICE": "cuda:1", "FAST_TOTAL": "0"})
    assert settings.runtime.device == "cpu"
    assert settings.fast_total is True


def test_environment_used_when_flag_absent():
    settings = settings_for([], {"DEVICE": "gpu:1", "LICENSE_NUMBER": "aca_1234567890ABCD", "THEME": "dark"})
    assert settings.runtime.device == "gpu:1"
    assert settings.runtime.license_number == "aca_1234567890ABCD"
    assert settings.theme == "dark"


@pytest.mark.parametrize(
    "environ,fragment",
    [
        ({"FAST_TOTAL": "maybe"}, "FAST_TOTAL='maybe' is not a boolean"),
        ({"DEVICE": "tpu"}, "Unknown device 'tpu'"),
        ({"THEME": "blue"}, "Unknown theme"),
        ({"LICENSE_NUMBER": "short"}, "licence number has 5 characters"),
    ],
)
def test_invalid_values_are_usage_errors(environ, fragment):
    with pytest.raises(UsageError, match=fragment):
        settings_for([], environ)


def test_models_split_on_plus_and_segmentations_parsed():
    settings = settings_for(["-m", "total+liver_vessels", "--segmentation", "total=a.nii.gz"])
    assert settings.models == ("total", "liver_vessels")
    assert settings.segmentations == {"total": Path("a.nii.gz")}


@pytest.mark.parametrize("item", ["total", "=a.nii.gz", "total="])
def test_malformed_segmentation_rejected(item):
    with pytest.raises(UsageError, match="NAME=PATH"):
        settings_for(["--segmentation", item])


def test_weights_location_variables_recorded():
    settings = build_settings(
        {"input_image": Path("a"), "output_dir": Path("b")},
        {"TOTALSEG_WEIGHTS_PATH": "/w", "TOTALSEG_HOME_DIR": "/h", "BOA_WEIGHTS_DIR": "/b"},
    )
    assert settings.runtime.totalseg_weights_path == Path("/w")
    assert settings.runtime.totalseg_home_dir == Path("/h")
    assert settings.runtime.weights_dir == Path("/b")


def test_runtime_is_built_alone_and_kept_out_of_repr():
    """The weights command and the PACS worker need no analysis request; the licence is never printed."""
    from body_organ_analysis.settings import build_runtime

    runtime = build_runtime({"offline": None}, {"BOA_OFFLINE": "1", "LICENSE_NUMBER": "aca_1234567890ABCD", "FAST_TOTAL": "1"})
    assert runtime.offline is True and runtime.license_number == "aca_1234567890ABCD"
    assert "aca_1234567890ABCD" not in repr(runtime) and "aca_1234567890ABCD" not in repr(settings_for([], {"LICENSE_NUMBER": "aca_1234567890ABCD"}))
    with pytest.raises(TypeError):
        build_runtime({"fast_total": True}, {})  # a request option is not part of the runtime


def test_manifest_view_hides_a_mirrors_credentials():
    settings = settings_for([], {"BOA_WEIGHTS_URL": "https://user:s3cret@mirror.example/w?token=t0k"})
    assert settings.for_manifest()["runtime"]["weights_url"] == "https://mirror.example/w"
    assert "s3cret" not in repr(settings) and "t0k" not in str(settings.for_manifest())


def test_manifest_view_hides_licence():
    settings = settings_for(["-l", "aca_1234567890ABCD"])
    assert settings.for_manifest()["runtime"]["license_number"] == "set"
    assert "aca_1234567890ABCD" not in str(settings.for_manifest())


def test_height_and_weight_from_flags_and_environment():
    settings = settings_for(["--height-cm", "172.5"], {"BOA_WEIGHT_KG": "68", "BOA_HEIGHT_CM": "150"})
    assert settings.height_cm == 172.5 and settings.weight_kg == 68.0  # the flag wins
    assert settings_for([], {"BOA_HEIGHT_CM": ""}).height_cm is None  # empty: not given


@pytest.mark.parametrize("argv", [["--height-cm", "49"], ["--height-cm", "251"], ["--weight-kg", "1.9"],
                                  ["--weight-kg", "inf"]])  # fmt: skip
def test_height_and_weight_outside_their_range(argv):
    with pytest.raises(UsageError, match="is outside"):
        settings_for(argv)


def test_empty_output_path_is_not_the_current_folder():
    with pytest.raises(UsageError, match="-o/--output-dir is empty"):
        settings_from_args(build_parser().parse_args(["-i", "ct.nii.gz", "-o", ""]), {})


def test_height_as_text_from_a_form_or_job():
    base = {"input_image": Path("ct.nii.gz"), "output_dir": Path("out")}
    assert build_settings({**base, "height_cm": "172"}, {}).height_cm == 172.0
    with pytest.raises(UsageError, match="not a number"):
        build_settings({**base, "weight_kg": "heavy"}, {})


def test_patient_variables_are_read_by_the_command_line_only():
    """The PACS worker and the UI build settings from an environment that serves every patient."""
    base = {"input_image": Path("ct.nii.gz"), "output_dir": Path("out")}
    environ = {"BOA_HEIGHT_CM": "180", "BOA_WEIGHT_KG": "80"}
    assert build_settings(base, environ).height_cm is None and build_settings(base, environ).weight_kg is None
    assert settings_for([], environ).height_cm == 180.0
