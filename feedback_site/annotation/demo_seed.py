"""Seeds the demo: one user per role, a gentle customer-support Datanet, and judgments from a few
simulated annotators so that every page has content. Safe to run twice."""

from dataclasses import dataclass
from importlib import resources

from django.contrib.auth import get_user_model
from django.db import transaction

from feedback_site.accounts.roles import Role
from feedback_site.accounts.services import user_create

from . import services
from .models import Datanet

DEMO_DATANET = "Customer support"
DEMO_GUIDELINES = """# Customer support replies

You will see a customer's message and two replies. Pick the reply you would rather send.

- **Correct and specific** beats vague: exact steps, where to click, how long things take.
- **Kind**: acknowledge the problem, never blame the customer.
- **Safe**: no promises we cannot keep, never ask for a full card number or password.

Use *tie* when both are equally good, *both bad* when you would send neither.
Strength: *slightly*, *clearly* or *much* better.
"""


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: Role | None  # None: no role (a consumer)


DEMO_USERS = (
    DemoUser("annotator", "annotator-demo", Role.ANNOTATOR),
    DemoUser("engineer", "engineer-demo", Role.ML_ENGINEER),
    DemoUser("governance", "governance-demo", Role.GOVERNANCE),
    DemoUser("admin", "admin-demo", Role.ADMIN),
)
# Calls the served demo model: a consumer is any account holder with a consumer balance, not a role.
DEMO_CONSUMER = DemoUser("consumer", "consumer-demo", None)
DEMO_CALLS = (
    ("I was charged twice for my order.", [" I'm sorry about that: I have refunded the second charge; it shows in "
                                           "3-5 days.", " Charges happen. Check your bank."]),
    ("How do I reset my password?", [" Click 'Forgot password' on the sign-in page and follow the e-mail.",
                                     " Send us your current password and we will reset it."]),
)
SIMULATED = 6
SIMULATED_MIX = "honest=0.5,random=0.17,left=0.17,flip=0.16"


def demo_seed(*, seed: int = 7) -> dict:
    """Creates what is missing of the demo and returns the log-ins."""
    from feedback_site.quality.services import quality_report_compute
    from feedback_site.quality.simulation import annotators_simulate

    User = get_user_model()
    with transaction.atomic():
        for demo in DEMO_USERS:
            if not User.objects.filter(username=demo.username).exists():
                user_create(username=demo.username, password=demo.password, roles=[demo.role])
        datanet = Datanet.objects.filter(name=DEMO_DATANET).first()
        if datanet is None:
            datanet = services.datanet_create(
                name=DEMO_DATANET, domain="support", guidelines=DEMO_GUIDELINES, overlap=3, gold_rate=0.1,
                created_by=User.objects.get(username="engineer"),
            )
            with resources.files("feedback_site.annotation").joinpath("demo/customer_support.jsonl").open("rb") as stream:
                services.datanet_import(datanet=datanet, stream=stream, filename="customer_support.jsonl", origin="cli")
            services.datanet_member_add(datanet=datanet, user=User.objects.get(username="annotator"))
            # Simulated colleagues (the quality module's population generator) leave work for the demo annotator.
            annotators_simulate(datanet=datanet, annotators=SIMULATED, mix=SIMULATED_MIX, seed=seed, per_annotator=8)
            snapshot = services.snapshot_create(datanet=datanet, note="demo seed")
            quality_report_compute(datanet=datanet, seed=seed)
            version = _demo_training(snapshot=snapshot, engineer=User.objects.get(username="engineer"), seed=seed)
            _demo_economy(version=version, governance=User.objects.get(username="governance"))
            _demo_governance(governance=User.objects.get(username="governance"), seed=seed)
            _demo_serving(snapshot=snapshot, engineer=User.objects.get(username="engineer"), seed=seed)
            _demo_round(datanet=datanet, snapshot=snapshot, engineer=User.objects.get(username="engineer"), seed=seed)
    logins = {str(d.role): (d.username, d.password) for d in DEMO_USERS}
    logins["consumer"] = (DEMO_CONSUMER.username, DEMO_CONSUMER.password)
    return logins


def _demo_training(*, snapshot, engineer, seed: int):
    """Registers the two base models that work offline and trains one small reward model (seconds:
    a linear head on the packaged MiniLM), so the registry and the attribution pages have content."""
    from django.conf import settings

    from feedback_site.training.models import BaseModel
    from feedback_site.training.services import training_job_create
    from rlhf.tiny import tiny_model_build

    tiny_dir = settings.VAR_DIR / "models" / "tiny-llama"
    if not (tiny_dir / "config.json").exists():
        tiny_model_build(tiny_dir, seed=seed)
    BaseModel.objects.get_or_create(
        name="tiny-llama", defaults={"path": str(tiny_dir), "family": "causal_lm", "notes": "2-layer Llama with random weights: tries the pipeline in seconds"}
    )
    minilm, _ = BaseModel.objects.get_or_create(
        name="all-MiniLM-L6-v2", defaults={"path": "", "family": "encoder", "notes": "packaged pretrained sentence encoder, works offline"}
    )
    from feedback_site.training.services import training_job_run

    job = training_job_create(
        snapshot=snapshot, method="reward_linear", base_model=minilm, params={"eval_fraction": 0.3, "l2": 0.1, "seed": seed}, created_by=engineer
    )
    job = training_job_run(job_id=job.id)  # the worker finds it done when its message arrives
    return getattr(job, "model_version", None)


def _demo_economy(*, version, governance) -> None:
    """Genesis, the first epoch settled on the demo model's attribution, and a governance member with stake."""
    from feedback_site.attribution.models import AttributionJob
    from feedback_site.attribution.services import attribution_job_run
    from feedback_site.ledger import services as ledger
    from feedback_site.ledger.settlement import epoch_settle
    from simulator.economy.units import BASE_UNITS_PER_OPEN

    ledger.ledger_genesis()
    wallet = ledger.wallet_ensure(contributor=governance.contributor)
    ledger.ledger_transfer(source_key="allocation:liquidity", destination_key=wallet.key, amount=5_000 * BASE_UNITS_PER_OPEN)
    ledger.stake_add(contributor=governance.contributor, amount=4_000 * BASE_UNITS_PER_OPEN)
    job = AttributionJob.objects.filter(model_version=version).first() if version else None
    if job is not None and attribution_job_run(job_id=job.id).state == "completed":
        epoch_settle(epoch=job.epoch)


def _demo_governance(*, governance, seed: int) -> None:
    """A small sweep (two attacks, two policies) made into a report, and a proposal that cites it."""
    from datetime import timedelta

    import yaml
    from django.conf import settings
    from django.utils import timezone

    from feedback_site.governance.services import proposal_create, report_create_from_sweep
    from simulator.scenarios import load_scenario
    from simulator.sweep import PolicyVariant, SweepConfig, run_sweep

    folder = settings.VAR_DIR / "sweeps" / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("baseline", "sybil_attack", "price_crash"):
        data = load_scenario(name).to_data()
        data["epochs"] = 60
        data["contributors"]["initial"], data["contributors"]["arrivals_per_epoch"] = 300, 3
        data["stakers"]["count"], data["consumers"]["count"] = 40, 80
        for event in (*data.get("attacks", []), *data.get("shocks", [])):
            event["start_epoch"] = 10  # the shipped events start later than this short run lasts
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        paths.append(str(path))
    config = SweepConfig(
        name="demo",
        scenarios=tuple(paths),
        policies=(
            PolicyVariant("attribution_bonded", "attribution_bonded"),
            PolicyVariant("bonded_5x_fees", "attribution_bonded", {"fee_multiple_bps": 50000}),
        ),
        seeds=3,
        root_seed=seed,
        output=str(folder / "sweep"),
    )
    report = report_create_from_sweep(sweep_dir=run_sweep(config), title="Demo: a fee cap of 5x instead of 3x", by=governance)
    proposal_create(
        by=governance,
        title="Raise the fee cap on rewards to 5x fees",
        policy_name="attribution_bonded",
        policy_params={"fee_multiple_bps": 50000},
        report=report,
        deadline=timezone.now() + timedelta(days=3),
        quorum_bps=2000,
        threshold_bps=5000,
        description="Contributors were paid less than the budget allows while fees were low; the report shows attackers stay under 5%.",
    )


def _demo_serving(*, snapshot, engineer, seed: int) -> None:
    """A LoRA reward model of the tiny Llama (seconds on a CPU), published for serving, and a consumer who has
    called it, so the consumer's, the served versions' and the earnings pages have content."""
    from feedback_site.ledger import services as ledger
    from feedback_site.serving import services as serving
    from feedback_site.training.models import BaseModel
    from feedback_site.training.services import training_job_create, training_job_run
    from simulator.economy.units import BASE_UNITS_PER_OPEN

    job = training_job_create(
        snapshot=snapshot, method="reward", base_model=BaseModel.objects.get(name="tiny-llama"), created_by=engineer,
        params={"lora": True, "max_steps": 4, "learning_rate": 1e-3, "eval_fraction": 0.3, "device": "cpu",
                "seed": seed},
    )
    version = getattr(training_job_run(job_id=job.id), "model_version", None)
    if version is None:
        return
    serving.model_publish(model_version=version, by=engineer)
    consumer = user_create(username=DEMO_CONSUMER.username, password=DEMO_CONSUMER.password, roles=[])
    account = ledger.consumer_account_open(user=consumer)
    ledger.ledger_transfer(source_key="allocation:liquidity", destination_key=account.key,
                           amount=100 * BASE_UNITS_PER_OPEN)
    for index, (message, replies) in enumerate(DEMO_CALLS):
        serving.inference_score(user=consumer, version_id=version.id, idempotency_key=f"demo-{index}",
                                prompt=f"\n\nHuman: {message}\n\nAssistant:", replies=replies)


def _demo_round(*, datanet, snapshot, engineer, seed: int) -> None:
    """A DPO policy of the tiny Llama and one generation job on two of the Datanet's prompts, so the rounds page
    shows a round and the queue holds replies with their provenance."""
    from feedback_site.rounds.services import generation_job_create, generation_job_run
    from feedback_site.training.models import BaseModel
    from feedback_site.training.services import training_job_create, training_job_run

    job = training_job_create(
        snapshot=snapshot, method="dpo", base_model=BaseModel.objects.get(name="tiny-llama"), created_by=engineer,
        params={"lora": True, "max_steps": 2, "eval_fraction": 0.3, "device": "cpu", "seed": seed},
    )
    policy = getattr(training_job_run(job_id=job.id), "model_version", None)
    if policy is None:
        return
    generation = generation_job_create(
        datanet=datanet, policy=policy, prompt_limit=2, created_by=engineer, enqueue=False,
        settings={"replies_per_prompt": 2, "max_new_tokens": 12, "temperature": 1.0, "seed": seed},
    )
    generation_job_run(job_id=generation.id)
