"""The feature contract: both shipped specs load, and malformed specs are refused with the reason."""

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from leadscore_core import load_spec
from leadscore_core.contract import FeatureSpec


def test_builtin_specs_load():
    crm = load_spec("crm_freezone")
    bank = load_spec("bank_marketing")
    assert crm.id_column == "lead_id" and crm.timestamp_column == "created_at"
    assert set(crm.pii_fields) == {"full_name", "email", "phone"}
    derived = {f.name for f in crm.event_features}
    assert derived == {"web_visits", "pricing_views", "form_completions", "time_on_site_sec"}
    assert "duration" in bank.drop_columns and "duration" not in bank.feature_names
    assert bank.feature("emp_var_rate").source_column == "emp.var.rate"
    assert bank.entity.id is None and bank.id_column == "lead_id"


def test_fingerprint_changes_with_contract():
    a = load_spec("crm_freezone")
    data = a.model_dump(mode="json")
    data["features"][0]["categories"].append("tiktok")
    b = FeatureSpec.model_validate(data)
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == load_spec("crm_freezone").fingerprint()


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"type": "categorical", "categories": None}, "categorical features need 'categories'"),
        ({"type": "numeric", "min": 5, "max": 1}, "min 5.0 > max 1.0"),
        ({"type": "numeric", "missing": "impute"}, "needs an 'impute' value"),
        ({"type": "numeric", "colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_feature_definitions_are_refused(patch, message):
    data = load_spec("bank_marketing").model_dump(mode="json")
    data["features"][0] = {"name": "age", **patch}
    with pytest.raises(ValidationError, match=message):
        FeatureSpec.model_validate(data)


def test_duplicate_names_and_dropped_columns_are_refused():
    data = load_spec("bank_marketing").model_dump(mode="json")
    data["features"].append(dict(data["features"][0]))
    with pytest.raises(ValidationError, match="duplicate names"):
        FeatureSpec.model_validate(data)
    data = load_spec("bank_marketing").model_dump(mode="json")
    data["features"][0]["column"] = "duration"
    with pytest.raises(ValidationError, match="reads dropped column"):
        FeatureSpec.model_validate(data)


def test_new_schema_is_a_new_file(tmp_path: Path):
    spec = {
        "name": "tiny",
        "entity": {"id": "id", "timestamp": "ts"},
        "target": {"column": "won", "positive": ["won"]},
        "features": [{"name": "seats", "type": "numeric", "min": 0}],
    }
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(spec))
    s = load_spec(p)
    assert s.feature_names == ["seats"] and s.is_positive("WON") and not s.is_positive("lost")


def test_missing_spec_file_names_it():
    with pytest.raises(FileNotFoundError, match="no-such-spec"):
        load_spec("no-such-spec")


def test_monitoring_fields_of_the_spec() -> None:
    spec = load_spec("crm_freezone")
    assert spec.feature("campaign").seasonality == "calendar"
    assert spec.feature("lead_source").seasonality == "none"
    assert spec.monitoring.sensitive_attributes == ["nationality"]
    data = spec.model_dump(mode="json")
    data["monitoring"] = {"sensitive_attributes": ["visas_requested"]}
    with pytest.raises(ValueError, match="sensitive attribute 'visas_requested' is not a categorical feature"):
        FeatureSpec.model_validate(data)


def test_drift_thresholds_have_one_home(monkeypatch: pytest.MonkeyPatch) -> None:
    from leadscore_core.settings import DriftThresholds

    t = DriftThresholds()
    assert (t.psi_for("numeric"), t.psi_for("categorical"), t.psi_for("boolean")) == (0.1, 0.1, 0.1)
    monkeypatch.setenv("LEADSCORE_DRIFT_PSI_NUMERIC", "0.2")
    monkeypatch.setenv("LEADSCORE_DRIFT_CORRECTION", "bh")
    t = DriftThresholds()
    assert t.psi_for("numeric") == 0.2 and t.psi_for("categorical") == 0.1 and t.correction == "bh"
    monkeypatch.setenv("LEADSCORE_DRIFT_CORRECTION", "bonferroni")
    with pytest.raises(ValueError, match="correction"):
        DriftThresholds()
