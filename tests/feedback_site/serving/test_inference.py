"""Consumers call published versions through the site: served by the real engine on tiny models, metered
once per idempotency key, charged the policy's price in the same transaction, refused with nothing served."""

import threading

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from feedback_site.accounts.roles import Role
from feedback_site.accounts.services import user_create
from feedback_site.annotation.models import Snapshot
from feedback_site.annotation.services import datanet_create
from feedback_site.ledger import selectors as ledger_selectors
from feedback_site.ledger import services as ledger_services
from feedback_site.ledger.models import FeeUsage, PolicyVersion
from feedback_site.serving import services
from feedback_site.serving.models import InferenceCall
from feedback_site.training.models import BaseModel, ModelVersion, TrainingJob
from simulator.economy.units import BASE_UNITS_PER_OPEN as OPEN

pytestmark = pytest.mark.slow
PROMPT = "\n\nHuman: Tell me about fruit.\n\nAssistant:"


@pytest.fixture(scope="session")
def run_folders(tmp_path_factory):
    from rlhf.config import DPOTrainingConfig, RewardTrainingConfig
    from rlhf.dpo import dpo_train
    from rlhf.reward import reward_train
    from rlhf.tiny import marker_preference_rows, tiny_model_build

    root = tmp_path_factory.mktemp("served")
    base, other = tiny_model_build(root / "base", seed=0), tiny_model_build(root / "other", seed=1)
    reward_train(RewardTrainingConfig(model_path=str(base), output_dir=str(root / "rm"), lora=True, max_steps=2,
                                      device="cpu", eval_fraction=0.0), rows=marker_preference_rows(16, seed=1))
    reward_train(RewardTrainingConfig(model_path=str(other), output_dir=str(root / "rm-other"), lora=True, max_steps=1,
                                      device="cpu", eval_fraction=0.0), rows=marker_preference_rows(16, seed=2))
    dpo_train(DPOTrainingConfig(model_path=str(base), output_dir=str(root / "dpo"), lora=True, max_steps=1,
                                device="cpu", eval_fraction=0.0), rows=marker_preference_rows(16, seed=3))
    return {"rm": root / "rm", "rm-other": root / "rm-other", "dpo": root / "dpo"}


@pytest.fixture(autouse=True)
def fresh_engine(settings):
    from feedback_site.serving import engine

    engine.pool.cache_clear()
    yield
    engine.pool.cache_clear()


def version_of(path, kind: str, name: str) -> ModelVersion:
    datanet = datanet_create(name=f"Data of {name}")
    snapshot = Snapshot.objects.create(datanet=datanet, cutoff_judgment_id=0, content_hash="0" * 64)
    base, _ = BaseModel.objects.get_or_create(name="tiny", defaults={"family": "causal_lm", "path": str(path)})
    job = TrainingJob.objects.create(snapshot=snapshot, snapshot_hash="0" * 64, method="reward", base_model=base,
                                     state="completed")
    return ModelVersion.objects.create(job=job, name=name, kind=kind, artifacts_dir=str(path))


@pytest.fixture
def world(db, run_folders):
    ledger_services.ledger_genesis()
    engineer = user_create(username="eng", password="pw-eng-123", roles=[Role.ML_ENGINEER])
    reward = version_of(run_folders["rm"], "reward_model", "rm-served")
    policy = version_of(run_folders["dpo"], "dpo_policy", "dpo-served")
    services.model_publish(model_version=reward, by=engineer)
    services.model_publish(model_version=policy, by=engineer)
    return {"engineer": engineer, "reward": reward, "policy": policy}


def consumer(name: str, open_amount: int):
    user = user_create(username=name, password=f"pw-{name}-123", roles=[])
    account = ledger_services.consumer_account_open(user=user)
    if open_amount:
        ledger_services.ledger_transfer(source_key="allocation:liquidity", destination_key=account.key,
                                        amount=open_amount * OPEN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return user, account, client


def test_a_scored_call_names_its_version_and_fee_and_is_charged_once(world):
    user, account, client = consumer("buyer", 5)
    body = {"model_version_id": world["reward"].id, "prompt": PROMPT, "replies": [" A banana.", " An apple."],
            "idempotency_key": "k1"}
    first = client.post("/api/inference/score/", body, format="json")
    assert first.status_code == 201, first.data
    assert first.data["model_version"] == {"id": world["reward"].id, "name": "rm-served"}
    assert first.data["fee"] == str(OPEN) and len(first.data["result"]["scores"]) == 2
    assert ledger_selectors.account_balance(account=account) == 4 * OPEN
    again = client.post("/api/inference/score/", body, format="json")
    assert again.status_code == 200 and again.data["replayed"] and again.data["result"] == first.data["result"]
    assert ledger_selectors.account_balance(account=account) == 4 * OPEN  # a retry is never charged twice
    reused = client.post("/api/inference/score/", {**body, "prompt": "other"}, format="json")
    assert reused.status_code == 409 and reused.data["error"] == "idempotency_key_reused"
    assert InferenceCall.objects.count() == 1 and FeeUsage.objects.get().fee == OPEN


def test_generation_is_seeded_and_its_bad_input_names_the_field(world):
    _, _, client = consumer("writer", 5)
    body = {"model_version_id": world["policy"].id, "prompt": PROMPT, "max_tokens": 6, "temperature": 0.8, "seed": 4}
    one = client.post("/api/inference/generate/", {**body, "idempotency_key": "g1"}, format="json")
    two = client.post("/api/inference/generate/", {**body, "idempotency_key": "g2"}, format="json")
    assert one.status_code == two.status_code == 201 and one.data["result"] == two.data["result"]
    assert 1 <= one.data["tokens_out"] <= 6
    for field, value in (("max_tokens", 0), ("max_tokens", 10**6), ("temperature", 5)):
        refused = client.post("/api/inference/generate/", {**body, field: value, "idempotency_key": f"bad-{field}{value}"},
                              format="json")
        assert refused.status_code == 400 and field in str(refused.data), refused.data
    assert client.post("/api/inference/generate/", {**body, "prompt": "banana " * 3000, "idempotency_key": "long"},
                       format="json").status_code == 400
    assert InferenceCall.objects.count() == 2


def test_a_short_balance_gets_402_and_nothing_is_served_or_stored(world):
    _, account, client = consumer("poor", 0)
    body = {"model_version_id": world["reward"].id, "prompt": PROMPT, "replies": [" x"], "idempotency_key": "p1"}
    refused = client.post("/api/inference/score/", body, format="json")
    assert refused.status_code == 402 and refused.data["error"] == "payment_required"
    assert not InferenceCall.objects.exists() and not FeeUsage.objects.exists()


def test_a_price_per_token_charges_each_call_for_the_tokens_it_read_and_wrote(world, client):
    from django.urls import reverse

    user, account, api = consumer("reader", 1)
    ledger_services.policy_activate(name="attribution", params={"price_per_call": OPEN // 10,
                                                                "price_per_token": OPEN // 1000}, activates_at_epoch=0)
    body = {"model_version_id": world["policy"].id, "prompt": PROMPT, "max_tokens": 5, "temperature": 0, "seed": 1}
    done = api.post("/api/inference/generate/", {**body, "idempotency_key": "t1"}, format="json")
    assert done.status_code == 201, done.data
    tokens = done.data["tokens_in"] + done.data["tokens_out"]
    assert done.data["tokens_in"] > 5 and done.data["tokens_out"] >= 1
    assert int(done.data["fee"]) == OPEN // 10 + tokens * (OPEN // 1000) == InferenceCall.objects.get().fee
    assert ledger_selectors.account_balance(account=account) == OPEN - int(done.data["fee"])
    # What is left covers the price per call, not this call's tokens: it is served, then refused, and
    # nothing is charged or stored.
    ledger_services.ledger_transfer(source_key=account.key, destination_key="allocation:liquidity",
                                    amount=ledger_selectors.account_balance(account=account) - OPEN // 10)
    short = api.post("/api/inference/generate/", {**body, "idempotency_key": "t2"}, format="json")
    assert short.status_code == 402 and "tokens in" in str(short.data), short.data
    assert InferenceCall.objects.count() == FeeUsage.objects.count() == 1
    assert ledger_selectors.account_balance(account=account) == OPEN // 10
    client.force_login(user)
    page = client.get(reverse("serving_consumer")).content.decode()
    assert "0.1 OPEN a call plus 0.001 OPEN per token" in page, page


def test_unknown_and_unpublished_versions_are_404_and_governance_sets_the_price(world):
    _, account, client = consumer("buyer", 5)
    body = {"prompt": PROMPT, "replies": [" x"], "idempotency_key": "u1"}
    assert client.post("/api/inference/score/", {**body, "model_version_id": 999_999}, format="json").status_code == 404
    services.model_unpublish(model_version=world["reward"])
    assert client.post("/api/inference/score/", {**body, "model_version_id": world["reward"].id},
                       format="json").status_code == 404
    services.model_publish(model_version=world["reward"], by=world["engineer"])
    ledger_services.policy_activate(name="attribution", params={"price_per_call": OPEN // 4}, activates_at_epoch=0)
    assert PolicyVersion.objects.exists()
    done = client.post("/api/inference/score/", {**body, "model_version_id": world["reward"].id}, format="json")
    assert done.status_code == 201 and done.data["fee"] == str(OPEN // 4)


def test_an_adapter_of_another_base_is_refused_at_publication_naming_both(world, run_folders):
    from feedback_site.serving.errors import AdapterBaseMismatch

    other = version_of(run_folders["rm-other"], "reward_model", "rm-other")
    _, _, client = consumer("buyer", 5)
    client.post("/api/inference/score/", {"model_version_id": world["reward"].id, "prompt": PROMPT, "replies": [" x"],
                                          "idempotency_key": "load"}, format="json")  # the base is now loaded
    with pytest.raises(AdapterBaseMismatch) as refused:
        services.model_publish(model_version=other, by=world["engineer"])
    assert "other" in refused.value.message and "base" in refused.value.message


def test_a_consumer_sees_only_their_own_calls(world, client):
    from django.urls import reverse

    mine_user, _, mine = consumer("alice", 5)
    _, _, theirs = consumer("bob", 5)
    for api, key in ((mine, "a1"), (theirs, "b1")):
        api.post("/api/inference/score/", {"model_version_id": world["reward"].id, "prompt": PROMPT,
                                           "replies": [f" {key}"], "idempotency_key": key}, format="json")
    client.force_login(mine_user)
    page = client.get(reverse("serving_consumer"))
    assert page.status_code == 200 and len(page.context["calls"]) == 1
    assert page.context["calls"][0].idempotency_key == "a1"


@pytest.mark.postgres  # concurrent writers: SQLite locks the table instead
@pytest.mark.django_db(transaction=True)
def test_concurrent_consumers_retrying_are_charged_exactly_once_per_key(run_folders):
    ledger_services.ledger_genesis()
    engineer = user_create(username="eng", password="pw-eng-123", roles=[Role.ML_ENGINEER])
    reward = version_of(run_folders["rm"], "reward_model", "rm-concurrent")
    services.model_publish(model_version=reward, by=engineer)
    people = [consumer(f"c{i}", 10) for i in range(6)]
    failures = []

    def calls(index):
        user, _, _ = people[index]
        try:
            for n in range(3):
                for _ in range(2):  # every call is sent twice, as a client that lost the answer would
                    services.inference_score(user=user, version_id=reward.id, prompt=PROMPT, replies=[f" {n}"],
                                             idempotency_key=f"{index}-{n}")
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=calls, args=(i,)) for i in range(len(people))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert InferenceCall.objects.count() == FeeUsage.objects.count() == 18
    for _, account, _ in people:
        assert ledger_selectors.account_balance(account=account) == 7 * OPEN
