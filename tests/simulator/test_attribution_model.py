"""The attribution model reads the measured profile, rejects a bad one saying where, and scores
work the way its docstring says: discrete scores, sybil copies sharing credit, flips below honest."""

import hashlib
import json

import numpy as np
import pytest

from simulator.attribution_model import (
    AttributionModelParams,
    AttributionProfileError,
    Kind,
    attribution_figures,
    copy_share,
    default_profile_path,
    figures_from_profile,
    load_profile,
    profile_provenance,
    scores,
    true_contribution,
)
from simulator.params import ScenarioError, scenario_from_data


def shipped() -> dict:
    return json.loads(default_profile_path().read_text())


def test_the_shipped_profile_is_measured_and_normalised_to_an_honest_correct_judgment():
    document = load_profile()
    paid = document["methods"][document["paid_method"]]["overlaps"]["3"]
    assert paid["judgments"]["honest"]["correct"]["mean"] == 1.0
    assert len(document["inputs"]["data_sha256"]) == 64 and document["inputs"]["command"]
    figures = attribution_figures(AttributionModelParams())
    assert figures.method == document["paid_method"] and figures.overlap == 3
    assert figures.mean_correct[Kind.HONEST] > 0 > figures.mean_wrong[Kind.HONEST]
    assert 0 < figures.resolution <= 1 and float(np.log2(figures.resolution)).is_integer()


def test_flipped_and_random_work_is_expected_to_earn_less_than_honest_work():
    figures = attribution_figures(AttributionModelParams())
    kinds = np.array([Kind.HONEST, Kind.LAZY, Kind.FLIPPER])
    p_correct = np.array([0.85, 0.5, 0.15])
    expected = true_contribution(kinds, np.full(3, 100), p_correct, np.ones(3), figures)
    assert expected[0] > 0 and expected[1] < expected[0] and expected[2] == 0


@pytest.mark.parametrize("overlap", [1, 3])
def test_sybil_copies_share_credit_so_more_accounts_earn_no_more_in_total(overlap):
    figures = attribution_figures(AttributionModelParams(overlap=overlap))
    accounts = np.array([1, 2, 4, 16, 40, 200])
    cluster_total = copy_share(accounts, figures) * accounts
    assert copy_share(np.array([1]), figures)[0] == 1.0
    # Measured: m copies together earn less than two judgments' credit (at most about 1.6 with the head that
    # reads the reply), never a share per account; beyond the largest measured count the total is held.
    measured = figures.copy_cluster_credit
    assert measured.max() < 2 and np.all(cluster_total <= measured.max() + 1e-9)
    assert cluster_total[-1] == pytest.approx(cluster_total[-2]) == pytest.approx(measured[-1])


def test_scores_are_on_the_grid_noisy_and_reproducible():
    figures = attribution_figures(AttributionModelParams())
    rng = np.random.default_rng(3)
    n = 5000
    kinds = np.full(n, Kind.HONEST, dtype=np.int8)
    counts = np.full(n, 20)
    correct = rng.binomial(counts, 0.8)
    noise = rng.standard_normal(n)
    first = scores(kinds, counts, correct, np.ones(n), noise, figures)
    assert np.array_equal(first, scores(kinds, counts, correct, np.ones(n), noise, figures))
    assert np.all(np.mod(first, figures.resolution) == 0)
    assert len(np.unique(first)) < n / 2  # discrete: settlement can group equal scores
    expected = true_contribution(kinds, counts, np.full(n, 0.8), np.ones(n), figures)
    error = first.std() / np.sqrt(n)
    assert abs(first.mean() - expected.mean()) < 4 * error


def write(tmp_path, document) -> str:
    path = tmp_path / "profile.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def broken(change):
    document = shipped()
    change(document)
    return document


def _paid(document):
    return document["methods"][document["paid_method"]]["overlaps"]["3"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not a readable JSON file"),
        (broken(lambda d: d.update(schema="other")), "field schema must be"),
        (broken(lambda d: d.update(schema_version=2)), "field schema_version must be 1"),
        (broken(lambda d: d["methods"].pop(d["paid_method"])), "field methods.influence-exact is missing"),
        (broken(lambda d: _paid(d)["pooled"]["wrong"].pop("sd")), "overlaps.3.pooled.wrong.sd is missing"),
        (
            broken(lambda d: _paid(d)["pooled"]["correct"].update(mean="high")),
            "overlaps.3.pooled.correct.mean must be a finite number",
        ),
        (broken(lambda d: _paid(d)["pooled"]["correct"].update(sd=-1)), "pooled.correct.sd must be >= 0"),
        (
            broken(lambda d: _paid(d)["copies"].update(counts=[2, 4, 8, 16, 32])),
            "copies.counts must start at 1",
        ),
        (broken(lambda d: _paid(d)["copies"]["cluster_credit"].pop()), "must be lists of the same length"),
        (broken(lambda d: _paid(d).update(pooled=None)), "overlaps.3.pooled.correct is missing"),
    ],
)
def test_a_bad_profile_is_rejected_naming_the_file_and_field(tmp_path, document, message):
    path = write(tmp_path, document)
    with pytest.raises(AttributionProfileError) as error:
        attribution_figures(AttributionModelParams(profile=path))
    assert path in str(error.value) and message in str(error.value)


def test_a_missing_profile_or_overlap_says_what_is_there(tmp_path):
    with pytest.raises(AttributionProfileError, match="no such attribution profile"):
        load_profile(tmp_path / "absent.json")
    with pytest.raises(AttributionProfileError, match="measured overlaps: 1, 3"):
        figures_from_profile(shipped(), overlap=5, where="x.json")


def test_a_scenario_chooses_its_figures_and_a_bad_choice_names_the_field():
    scenario = scenario_from_data(
        {"name": "x", "attribution_model": {"method": "tracin", "overlap": 1, "by_kind": True}}
    )
    figures = attribution_figures(scenario.attribution_model)
    assert (figures.method, figures.overlap, figures.by_kind) == ("tracin", 1, True)
    with pytest.raises(ScenarioError, match="scenario.attribution_model: unknown field"):
        scenario_from_data({"name": "x", "attribution_model": {"information_value": [1, 1, 1, 1, 1]}})


def test_provenance_names_the_profile_by_hash_and_what_it_was_measured_from(tmp_path):
    document = shipped()
    document["inputs"].update(data_sha256="d" * 64, seed=17)
    path = write(tmp_path, document)
    provenance = profile_provenance(AttributionModelParams(profile=path, method="tracin", overlap=1))
    assert provenance["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert (provenance["file"], provenance["method"], provenance["overlap"]) == ("profile.json", "tracin", 1)
    assert (provenance["data_sha256"], provenance["seed"]) == ("d" * 64, 17)
    assert provenance["paid_method"] == document["paid_method"] != "tracin"
    # One byte more is another profile, even with the same figures.
    with open(path, "a") as handle:
        handle.write("\n")
    assert profile_provenance(AttributionModelParams(profile=path))["sha256"] != provenance["sha256"]


def test_provenance_of_a_missing_profile_is_refused_naming_the_file(tmp_path):
    with pytest.raises(AttributionProfileError, match="absent.json: no such attribution profile"):
        profile_provenance(AttributionModelParams(profile=str(tmp_path / "absent.json")))
