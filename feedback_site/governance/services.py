"""Writes: reports (from a sweep folder, or a sweep the site runs), proposals, comments, votes,
closing a proposal and turning an accepted one into the policy of the next epoch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from feedback_site.accounts.roles import Role, user_has_role
from feedback_site.ledger import selectors as ledger_selectors
from feedback_site.ledger import services as ledger_services
from feedback_site.ledger.models import LedgerHead, PolicyVersion

from . import errors
from .models import (
    Proposal,
    ProposalComment,
    ProposalStatus,
    ReportState,
    SimulationReport,
    VoteCast,
    VoteChoice,
)
from .selectors import BPS, proposal_tally, voting_power

# --- reports -----------------------------------------------------------------------------------


def _report_fill(report: SimulationReport, sweep_dir: Path) -> SimulationReport:
    from simulator.report import build_report_html, load_sweep

    sweep = load_sweep(sweep_dir)
    report.html = build_report_html(sweep)
    report.html_sha256 = hashlib.sha256(report.html.encode("utf-8")).hexdigest()
    report.manifest = sweep.manifest
    report.state = ReportState.DONE
    report.stage = "done"
    report.finished_at = timezone.now()
    report.save()
    return report


def report_create_from_sweep(*, sweep_dir: str | Path, title: str = "", by=None) -> SimulationReport:
    """Store the report of a finished sweep folder (a ReportError from the simulator says what is wrong)."""
    from simulator.report import ReportError

    report = SimulationReport(
        title=title or Path(sweep_dir).name, created_by=by, state=ReportState.RUNNING, stage="building report"
    )
    try:
        return _report_fill(report, Path(sweep_dir))
    except ReportError as error:
        raise errors.ReportInvalid(str(error)) from None


def report_request(*, sweep_config: dict[str, Any], title: str, by) -> SimulationReport:
    """Queue a sweep and its report; the config is validated now, so a bad one never reaches a worker."""
    from simulator.sweep import SweepConfig, SweepError

    try:
        SweepConfig.from_data(dict(sweep_config), where="sweep config")
    except SweepError as error:
        raise errors.ReportInvalid(str(error)) from None
    report = SimulationReport.objects.create(
        title=title or "simulation report", sweep_config=sweep_config, created_by=by
    )
    from .tasks import build_report

    transaction.on_commit(lambda: build_report.apply_async(args=[report.id], queue="cpu"))
    return report


def report_run(*, report_id: int, output_root: str | Path) -> SimulationReport:
    """Run the report's sweep and build the page, recording the stage as it goes; safe to run twice."""
    import dataclasses

    from simulator.report import ReportError
    from simulator.sweep import SweepConfig, SweepError, run_sweep

    report = SimulationReport.objects.get(id=report_id)
    if report.state == ReportState.DONE:
        return report

    def stage(text: str) -> None:
        SimulationReport.objects.filter(id=report.id).update(stage=text[:200])

    SimulationReport.objects.filter(id=report.id).update(state=ReportState.RUNNING)
    try:
        config = SweepConfig.from_data(dict(report.sweep_config or {}), where="sweep config")
        config = dataclasses.replace(config, output=str(Path(output_root) / f"report-{report.id}"))
        stage(f"running {len(config.scenarios) * len(config.policies) * config.seeds} simulation runs")
        folder = run_sweep(config, progress=stage)
        stage("building report")
        report.refresh_from_db()
        return _report_fill(report, folder)
    except (SweepError, ReportError, OSError) as error:
        SimulationReport.objects.filter(id=report.id).update(
            state=ReportState.FAILED, stage="failed", error=str(error)
        )
        report.refresh_from_db()
        return report


# --- proposals ---------------------------------------------------------------------------------


def _require_governance(user, *, what: str) -> None:
    if not user_has_role(user, Role.GOVERNANCE):
        raise errors.VoteRefused(f"{what}: only governance members can do this")


def _basis_points(value: Any, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BPS:
        raise errors.ProposalInvalid(f"{field}: an integer of basis points from 0 to {BPS}, got {value!r}")
    return value


def _whole_number(value: Any, *, field: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        raise errors.ProposalInvalid(f"{field}: a whole number, got {value!r}") from None


def proposal_create_from_fields(*, by, fields: Mapping[str, Any]) -> Proposal:
    """A proposal from submitted fields, as the proposal form and the REST API send them:
    ``policy_params`` a JSON object (or its text), ``deadline`` an ISO date and time, ``report``
    a report id. Each bad field is refused by name; nothing is stored then."""
    params = fields.get("policy_params") or {}
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError as error:
            raise errors.ProposalInvalid(f"policy_params: not JSON: {error}") from None
    try:
        deadline = datetime.fromisoformat(str(fields.get("deadline", "")))
    except ValueError:
        raise errors.ProposalInvalid(
            f"deadline: a date and time like 2026-12-01T12:00, got {fields.get('deadline')!r}"
        ) from None
    if timezone.is_naive(deadline):
        deadline = timezone.make_aware(deadline, timezone.get_current_timezone())
    report = SimulationReport.objects.filter(id=_whole_number(fields.get("report"), field="report")).first()
    if report is None:
        raise errors.ProposalInvalid(f"report: no report {fields.get('report')!r}")
    return proposal_create(
        by=by,
        title=fields.get("title", ""),
        description=fields.get("description", ""),
        policy_name=fields.get("policy_name", ""),
        policy_params=params,
        report=report,
        deadline=deadline,
        quorum_bps=_whole_number(fields.get("quorum_bps"), field="quorum_bps"),
        threshold_bps=_whole_number(fields.get("threshold_bps"), field="threshold_bps"),
    )


def proposal_create(
    *,
    by,
    title: str,
    policy_name: Any,
    policy_params: Any,
    report: SimulationReport,
    deadline: datetime,
    quorum_bps: Any,
    threshold_bps: Any,
    description: str = "",
    now: datetime | None = None,
) -> Proposal:
    """A proposal to make ``policy_name(policy_params)`` the emission policy; the stake snapshot
    is the ledger's last entry now, so stake added afterwards does not count."""
    from simulator.economy.policies import params_to_dict, policy_from_dict

    _require_governance(by, what="proposal")
    if not isinstance(title, str) or not title.strip():
        raise errors.ProposalInvalid("title: required")
    if not isinstance(policy_params, dict):
        raise errors.ProposalInvalid(
            f"policy_params: a JSON object of parameter: value, got {type(policy_params).__name__}"
        )
    try:
        policy = policy_from_dict(policy_name, policy_params)
    except (TypeError, ValueError) as error:
        raise errors.ProposalInvalid(f"policy_params: {error}") from None
    if report.state != ReportState.DONE:
        raise errors.ProposalInvalid(
            f"report: report {report.id} is {report.state}; a proposal needs a finished report"
        )
    if deadline <= (now or timezone.now()):
        raise errors.ProposalInvalid("deadline: must be in the future")
    quorum = _basis_points(quorum_bps, field="quorum_bps")
    threshold = _basis_points(threshold_bps, field="threshold_bps")
    with transaction.atomic():
        # Hold the ledger head so no entry slips in between reading the snapshot id and the total.
        head = LedgerHead.objects.select_for_update().filter(id=1).first()
        snapshot = head.last_entry_id if head else 0
        total = sum(ledger_selectors.stakes_at(at_entry_id=snapshot).values())
        return Proposal.objects.create(
            title=title.strip(),
            description=description,
            policy_name=policy.name,
            policy_params=params_to_dict(policy),
            report=report,
            deadline=deadline,
            quorum_bps=quorum,
            threshold_bps=threshold,
            snapshot_entry_id=snapshot,
            total_stake=total,
            created_by=by,
        )


def comment_add(*, proposal: Proposal, author, text: str) -> ProposalComment:
    if not isinstance(text, str) or not text.strip():
        raise errors.ProposalInvalid("text: a comment cannot be empty")
    return ProposalComment.objects.create(proposal=proposal, author=author, text=text.strip()[:5000])


def vote_cast(*, proposal: Proposal, voter, choice: Any, now: datetime | None = None) -> VoteCast:
    """Record ``voter``'s vote; a second vote replaces the first (both stay recorded)."""
    if choice not in VoteChoice.values:
        raise errors.ProposalInvalid(f"choice: one of {', '.join(VoteChoice.values)}, got {choice!r}")
    _require_governance(voter, what="vote")
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().get(id=proposal.id)
        if proposal.status != ProposalStatus.OPEN or (now or timezone.now()) >= proposal.deadline:
            raise errors.VotingClosed(
                f"vote: voting on proposal {proposal.id} closed at {proposal.deadline:%Y-%m-%d %H:%M} UTC"
            )
        key, stake = voting_power(proposal=proposal, user=voter)
        if stake <= 0:
            raise errors.VoteRefused(
                f"vote: you had no OPEN staked at this proposal's snapshot (ledger entry {proposal.snapshot_entry_id}); "
                "stake added later does not count"
            )
        earlier = VoteCast.objects.filter(proposal=proposal, voter=voter).order_by("-id").first()
        return VoteCast.objects.create(
            proposal=proposal, voter=voter, account_key=key, choice=choice, replaces=earlier
        )


def proposal_close(*, proposal: Proposal, now: datetime | None = None) -> Proposal:
    """After the deadline: record the tally and the outcome; an accepted proposal becomes the
    policy of the next epoch to settle (a policy_change entry in the ledger). Safe to run twice."""
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().get(id=proposal.id)
        if proposal.status != ProposalStatus.OPEN:
            return proposal
        if (now or timezone.now()) < proposal.deadline:
            raise errors.ProposalNotDue(
                f"proposal {proposal.id}: voting is open until {proposal.deadline:%Y-%m-%d %H:%M} UTC"
            )
        tally = proposal_tally(proposal=proposal)
        proposal.tally = tally.to_data()
        proposal.status = tally.outcome
        proposal.closed_at = now or timezone.now()
        if tally.outcome == ProposalStatus.ACCEPTED:
            epoch = ledger_selectors.epoch_next()
            taken = set(
                PolicyVersion.objects.filter(activates_at_epoch__gte=epoch).values_list(
                    "activates_at_epoch", flat=True
                )
            )
            while epoch in taken:
                epoch += 1
            proposal.policy_version = ledger_services.policy_activate(
                name=proposal.policy_name,
                params=proposal.policy_params,
                activates_at_epoch=epoch,
                by=proposal.created_by,
            )
        proposal.save()
        return proposal


def proposals_close_due(*, now: datetime | None = None) -> list[Proposal]:
    due = Proposal.objects.filter(status=ProposalStatus.OPEN, deadline__lte=now or timezone.now()).order_by(
        "deadline", "id"
    )
    return [proposal_close(proposal=p, now=now) for p in due]


def proposal_verify(*, proposal: Proposal) -> dict[str, Any]:
    """Recompute the tally from the votes and the ledger and compare it with the recorded one."""
    recomputed = proposal_tally(proposal=proposal).to_data()
    recorded = proposal.tally
    return {
        "ok": recorded is None or recorded == recomputed,
        "recorded": recorded,
        "recomputed": recomputed,
        "snapshot_entry_id": proposal.snapshot_entry_id,
        "votes_sha256": hashlib.sha256(
            json.dumps(
                [
                    [v.id, v.voter_id, v.account_key, v.choice, v.replaces_id]
                    for v in VoteCast.objects.filter(proposal=proposal).order_by("id")
                ]
            ).encode()
        ).hexdigest(),
    }
