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
    role: Role


DEMO_USERS = (
    DemoUser("annotator", "annotator-demo", Role.ANNOTATOR),
    DemoUser("engineer", "engineer-demo", Role.ML_ENGINEER),
    DemoUser("governance", "governance-demo", Role.GOVERNANCE),
    DemoUser("admin", "admin-demo", Role.ADMIN),
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
            _demo_training(snapshot=snapshot, engineer=User.objects.get(username="engineer"), seed=seed)
    return {d.role.value: (d.username, d.password) for d in DEMO_USERS}


def _demo_training(*, snapshot, engineer, seed: int) -> None:
    """Registers the two base models that work offline and queues one small job for the demo's worker."""
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
    training_job_create(snapshot=snapshot, method="reward_linear", base_model=minilm, params={"eval_fraction": 0.2, "seed": seed}, created_by=engineer)
