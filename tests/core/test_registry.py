import pytest
from totalsegmentator.map_to_binary import class_map

from body_organ_analysis.errors import ExitCode, ModelError
from body_organ_analysis.models.registry import MODELS, get_model, resolve_models


def names(specs):
    return [spec.name for spec in specs]


def test_total_has_exactly_the_117_v2_labels():
    labels = get_model("total").labels()
    assert labels == dict(class_map["total"])
    assert sorted(labels) == list(range(1, 118))
    assert labels[5] == "liver" and labels[52] == "aorta"


def test_every_labelmap_model_has_labels_and_an_output_file():
    for spec in MODELS.values():
        if spec.produces_labelmap:
            assert spec.labels(), spec.name
            assert spec.output_file == f"{spec.name}.nii.gz"


def test_all_without_licence_leaves_licensed_models_out():
    chosen = names(resolve_models(["all"], None))
    assert "heartchambers_highres" not in chosen
    assert chosen[0] == "total"
    assert set(chosen) == {n for n, s in MODELS.items() if not s.license_required}


def test_all_with_licence_includes_licensed_models():
    assert "heartchambers_highres" in names(resolve_models(["all"], "aca_1234567890ABCD"))


def test_bca_adds_its_requirements_in_registry_order():
    assert names(resolve_models(["bca"], None)) == ["total", "body_regions", "body_parts", "bca"]


def test_order_is_deterministic_whatever_the_request_order():
    assert names(resolve_models(["liver_vessels", "total"], None)) == ["total", "liver_vessels"]


def test_unknown_model_lists_valid_names():
    with pytest.raises(ModelError) as caught:
        resolve_models(["totl"], None)
    assert caught.value.exit_code == ExitCode.UNKNOWN_MODEL
    assert "total" in str(caught.value) and "lung_vessels" in str(caught.value)


def test_licensed_model_without_licence():
    with pytest.raises(ModelError) as caught:
        resolve_models(["heartchambers_highres"], None)
    assert caught.value.exit_code == ExitCode.LICENSE_REQUIRED


def test_fast_variant_only_where_one_exists():
    assert get_model("total").task_config(fast=True)["task_id"] == 297
    assert get_model("total").task_config(fast=False)["task_id"] == [291, 292, 293, 294, 295]
    # a model without a fast variant keeps its normal network when --fast-total is on
    assert get_model("liver_vessels").task_config(fast=True) == get_model("liver_vessels").task_config()


@pytest.mark.parametrize("typo,meant", [("totl", "total"), ("Total", "total"), ("body_part", "body_parts"),
                                        ("liver_vessel", "liver_vessels"), ("al", "all")])  # fmt: skip
def test_unknown_model_suggests_the_nearest_name(typo, meant):
    with pytest.raises(ModelError) as caught:
        resolve_models([typo], None)
    assert f"Did you mean {meant!r}?" in str(caught.value)


def test_no_suggestion_for_a_name_unlike_any_model():
    with pytest.raises(ModelError) as caught:
        resolve_models(["xyzzy"], None)
    assert "Did you mean" not in str(caught.value)


def test_threshold_bca_requires_no_weights():
    assert names(resolve_models(["bca"], None, "threshold", include_optional=False)) == ["bca"]
