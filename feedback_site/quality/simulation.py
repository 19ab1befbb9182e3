"""Simulated annotators on a real Datanet, through the same services as the browser.

The population (kinds, accuracies, answers) comes from `rlhf.quality.population`; what each simulated
person is served comes from the site's own assignment, so locks, overlap and gold mixing are exercised
exactly as for people. The truth each answer is drawn against is the comparison's gold answer, else
the reference answer recorded at import.
"""

import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from feedback_site.accounts.roles import Role
from feedback_site.accounts.services import user_create
from feedback_site.annotation import services
from feedback_site.annotation.models import Comparison, Datanet
from feedback_site.core import errors

SHOWN = {("a", "a"): "A", ("b", "b"): "A", ("a", "b"): "B", ("b", "a"): "B"}


@dataclass(frozen=True)
class SimulatedPerson:
    pseudonym: str
    username: str
    kind: str
    accuracy: float


def datanet_truth(*, datanet: Datanet) -> dict[str, str]:
    truth = {}
    for cid, gold, reference in Comparison.objects.filter(datanet=datanet).order_by("id").values_list("id", "gold_choice", "reference_choice"):
        if gold in ("a", "b", "tie"):
            truth[str(cid)] = gold
        elif reference:
            truth[str(cid)] = reference
    return truth


def annotators_simulate(
    *, datanet: Datanet, annotators: int, mix: str, seed: int, overlap: int | None = None, per_annotator: int | None = None
) -> list[SimulatedPerson]:
    """Creates `annotators` simulated users in the Datanet and has them judge until nothing is left for them
    (or until each has given `per_annotator` judgments, leaving the rest to people)."""
    from rlhf.quality.population import PopulationConfig, parse_mix, population_answers, population_simulate

    if overlap is not None and overlap != datanet.overlap:
        raise errors.InvalidInput(f"overlap: the Datanet judges each comparison {datanet.overlap} times; --overlap must match it")
    try:
        parse_mix(mix)
    except ValueError as exc:
        raise errors.InvalidInput(str(exc) if str(exc).startswith("mix") else f"mix: {exc}") from None
    truth = datanet_truth(datanet=datanet)
    if not truth:
        raise errors.InvalidInput(
            f"Datanet {datanet.name!r} has no comparison with a gold or reference answer: simulated annotators need a true answer to be right or wrong about"
        )
    if annotators < datanet.overlap:
        raise errors.InvalidInput(f"annotators: at least {datanet.overlap} are needed to give each comparison k={datanet.overlap} judgments")
    population = population_simulate(
        truth, PopulationConfig(n_annotators=annotators, overlap=datanet.overlap, mix=mix, seed=seed, id_prefix=f"sim{seed}-")
    )
    users = {}
    usernames = [f"{datanet.slug}-{simulated.annotator_id}" for simulated in population.annotators]
    if get_user_model().objects.filter(username__in=usernames).exists():
        raise errors.InvalidInput(f"seed: annotators were already simulated in {datanet.name!r} with seed {seed}; use another seed")
    with transaction.atomic():
        for simulated, username in zip(population.annotators, usernames, strict=True):
            # No password: a simulated person can never log in.
            user = user_create(username=username, password=None, roles=[Role.ANNOTATOR])
            services.datanet_member_add(datanet=datanet, user=user)
            users[simulated.annotator_id] = user
    active = list(users)
    given = dict.fromkeys(users, 0)
    rng = random.Random(seed)  # the site's own draws (side shown, gold mixing): same seed, same judgments
    while active:
        still = []
        for sim_id in active:
            user = users[sim_id]
            if per_annotator is not None and given[sim_id] >= per_annotator:
                continue
            assignment = services.assignment_next(annotator=user, datanet=datanet, rng=rng)
            if assignment is None:
                continue
            still.append(sim_id)
            if str(assignment.comparison_id) not in truth:
                # No truth to simulate against: leave it to people; the lock expires.
                continue
            [answer] = population_answers(population, truth, [(str(assignment.comparison_id), sim_id, assignment.shown_left)])
            choice = SHOWN.get((answer.choice, assignment.shown_left), answer.choice)
            services.judgment_submit(
                annotator=user, assignment_id=assignment.id, choice=choice, strength=answer.strength, time_spent_ms=answer.time_spent_ms
            )
            given[sim_id] += 1
        active = [a for a in still if (per_annotator is None or given[a] < per_annotator) and _has_work(users[a], datanet, truth, rng)]
    return [
        SimulatedPerson(users[a.annotator_id].contributor.pseudonym, users[a.annotator_id].username, a.kind, a.accuracy)
        for a in population.annotators
    ]


def _has_work(user, datanet, truth, rng) -> bool:
    held = services.assignment_next(annotator=user, datanet=datanet, rng=rng)
    return held is not None and str(held.comparison_id) in truth
