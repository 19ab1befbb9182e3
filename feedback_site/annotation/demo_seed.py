"""Seeds the demo: one user per role, a gentle customer-support Datanet, and judgments from a few
simulated annotators so that every page has content. Safe to run twice."""

import random
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
SIMULATED = 5


def demo_seed(*, seed: int = 7) -> dict:
    """Creates what is missing of the demo and returns the log-ins."""
    User = get_user_model()
    with transaction.atomic():
        for demo in DEMO_USERS:
            if not User.objects.filter(username=demo.username).exists():
                user_create(username=demo.username, password=demo.password, roles=[demo.role])
        datanet = Datanet.objects.filter(name=DEMO_DATANET).first()
        if datanet is None:
            datanet = services.datanet_create(
                name=DEMO_DATANET, domain="support", guidelines=DEMO_GUIDELINES, overlap=3, created_by=User.objects.get(username="engineer")
            )
            with resources.files("feedback_site.annotation").joinpath("demo/customer_support.jsonl").open("rb") as stream:
                services.datanet_import(datanet=datanet, stream=stream, filename="customer_support.jsonl", origin="cli")
            services.datanet_member_add(datanet=datanet, user=User.objects.get(username="annotator"))
            _simulated_judgments(datanet, seed=seed)
            services.snapshot_create(datanet=datanet, note="demo seed")
    return {d.role.value: (d.username, d.password) for d in DEMO_USERS}


def _simulated_judgments(datanet, *, seed: int) -> None:
    """A few simulated colleagues judge part of the Datanet: careful ones mostly prefer the longer,
    more specific reply; one clicks at random. Leaves work for the demo annotator."""
    rng = random.Random(seed)
    for i in range(SIMULATED):
        user = user_create(username=f"sim-{i + 1}", password=f"sim-{seed}-{i}-unused", roles=[Role.ANNOTATOR])
        services.datanet_member_add(datanet=datanet, user=user)
        careful = i < SIMULATED - 1
        for _ in range(rng.randint(8, 14)):
            assignment = services.assignment_next(annotator=user, datanet=datanet)
            if assignment is None:
                break
            comparison = assignment.comparison
            longer = "a" if len(comparison.response_a.text) >= len(comparison.response_b.text) else "b"
            if careful:
                pick = longer if rng.random() < 0.85 else ("b" if longer == "a" else "a")
                choice = "A" if pick == assignment.shown_left else "B"
            else:
                choice = rng.choice(["A", "B", "tie", "both_bad"])
            services.judgment_submit(
                annotator=user,
                assignment_id=assignment.id,
                choice=choice,
                strength=rng.choice([1, 2, 2, 3]),
                time_spent_ms=int(rng.lognormvariate(9.5 if careful else 7.5, 0.4)),
                rationale="More specific and kinder." if careful and rng.random() < 0.3 else "",
            )
