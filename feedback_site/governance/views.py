"""Governance pages: reports (everyone signed in reads them), proposals, comments and votes."""


from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from feedback_site.accounts.permissions import role_required
from feedback_site.accounts.roles import Role, user_has_role
from feedback_site.core.errors import ServiceError

from . import selectors, services
from .models import Proposal, ProposalStatus, ReportState, SimulationReport, VoteChoice


@login_required
def report_list(request):
    return render(
        request,
        "governance/report_list.html",
        {
            "reports": selectors.reports_recent(),
            "can_create": user_has_role(request.user, Role.GOVERNANCE),
        },
    )


@require_POST
@role_required(Role.GOVERNANCE)
def report_new(request):
    import yaml

    try:
        try:
            config = yaml.safe_load(request.POST.get("config", ""))
        except yaml.YAMLError as error:
            raise services.errors.ReportInvalid(f"config: not YAML: {error}") from None
        if not isinstance(config, dict):
            raise services.errors.ReportInvalid(
                "config: a mapping of sweep fields (name, scenarios, policies, seeds, ...)"
            )
        report = services.report_request(
            sweep_config=config, title=request.POST.get("title", ""), by=request.user
        )
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("governance_reports")
    return redirect("governance_report", report.id)


@login_required
def report_detail(request, report_id: int):
    report = get_object_or_404(SimulationReport, id=report_id)
    return render(
        request, "governance/report_detail.html", {"report": report, "done": report.state == ReportState.DONE}
    )


@login_required
def report_progress(request, report_id: int):
    report = get_object_or_404(SimulationReport, id=report_id)
    return JsonResponse({"state": report.state, "stage": report.stage, "error": report.error})


@xframe_options_sameorigin
@login_required
def report_view(request, report_id: int):
    report = get_object_or_404(SimulationReport, id=report_id, state=ReportState.DONE)
    return HttpResponse(report.html, content_type="text/html; charset=utf-8")


@login_required
def report_download(request, report_id: int):
    report = get_object_or_404(SimulationReport, id=report_id, state=ReportState.DONE)
    response = HttpResponse(report.html, content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ledgerloop-report-{report.id}.html"'
    return response


@login_required
def proposal_list(request):
    services.proposals_close_due()
    return render(
        request,
        "governance/proposal_list.html",
        {
            "proposals": selectors.proposals_recent(),
            "reports": selectors.reports_recent(done_only=True, limit=50),
            "can_create": user_has_role(request.user, Role.GOVERNANCE),
        },
    )


@require_POST
@role_required(Role.GOVERNANCE)
def proposal_new(request):
    try:
        proposal = services.proposal_create_from_fields(by=request.user, fields=request.POST)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("governance_proposals")
    return redirect("governance_proposal", proposal.id)


@login_required
def proposal_detail(request, proposal_id: int):
    proposal = get_object_or_404(Proposal, id=proposal_id)
    if proposal.status == ProposalStatus.OPEN and timezone.now() >= proposal.deadline:
        proposal = services.proposal_close(proposal=proposal)
    key, power = selectors.voting_power(proposal=proposal, user=request.user)
    votes = selectors.current_votes(proposal=proposal)
    mine = next((v for v in votes if v.voter_id == request.user.id), None)
    return render(
        request,
        "governance/proposal_detail.html",
        {
            "proposal": proposal,
            "tally": selectors.proposal_tally(proposal=proposal),
            "verification": services.proposal_verify(proposal=proposal),
            "votes": votes,
            "history": proposal.votes.select_related("voter").order_by("id"),
            "my_power": power,
            "my_vote": mine,
            "can_vote": proposal.status == ProposalStatus.OPEN
            and power > 0
            and user_has_role(request.user, Role.GOVERNANCE),
            "choices": VoteChoice.choices,
        },
    )


@require_POST
@login_required
def proposal_vote(request, proposal_id: int):
    proposal = get_object_or_404(Proposal, id=proposal_id)
    try:
        vote = services.vote_cast(proposal=proposal, voter=request.user, choice=request.POST.get("choice"))
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"Your vote ({vote.choice}) is recorded"
            + (" and replaces your earlier vote." if vote.replaces_id else "."),
        )
    return redirect("governance_proposal", proposal.id)


@require_POST
@login_required
def proposal_comment(request, proposal_id: int):
    proposal = get_object_or_404(Proposal, id=proposal_id)
    try:
        services.comment_add(proposal=proposal, author=request.user, text=request.POST.get("text", ""))
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("governance_proposal", proposal.id)


@require_POST
@role_required(Role.GOVERNANCE)
def proposal_close(request, proposal_id: int):
    proposal = get_object_or_404(Proposal, id=proposal_id)
    try:
        proposal = services.proposal_close(proposal=proposal)
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("governance_proposal", proposal.id)
