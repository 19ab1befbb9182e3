"""Ledger pages: a contributor's wallet, the epochs and their roots, the treasury."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from feedback_site.accounts.services import contributor_for
from feedback_site.core.errors import ServiceError
from simulator.economy.units import base_units_to_open

from . import conf, errors, selectors, services
from .amounts import parse_open


@login_required
def wallet(request):
    contributor = contributor_for(user=request.user)
    summary = selectors.wallet_summary(contributor=contributor)
    return render(
        request,
        "ledger/wallet.html",
        {
            "summary": summary,
            "account_key": summary.wallet.key if summary.wallet else selectors.wallet_key(contributor.pseudonym),
            "next_epoch": selectors.epoch_next(),
            "cooldown": conf.unstake_cooldown_epochs(),
        },
    )


def _stake_action(request, service, done: str):
    contributor = contributor_for(user=request.user)
    try:
        amount = parse_open(request.POST.get("amount", ""), field="amount")
        service(contributor=contributor, amount=amount)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done.format(amount=base_units_to_open(amount)))
    return redirect("ledger_wallet")


@require_POST
@login_required
def stake(request):
    return _stake_action(request, services.stake_add, "Staked {amount} OPEN.")


@require_POST
@login_required
def unstake(request):
    return _stake_action(
        request,
        services.stake_remove,
        "Unstaking {amount} OPEN: it can be withdrawn after " + str(conf.unstake_cooldown_epochs()) + " epochs.",
    )


@require_POST
@login_required
def withdraw(request):
    try:
        entry = services.stake_withdraw(contributor=contributor_for(user=request.user))
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Withdrew {base_units_to_open(entry.amount)} OPEN to your wallet.")
    return redirect("ledger_wallet")


@login_required
def proof_download(request, epoch):
    wallet_account = selectors.wallet_for(contributor=contributor_for(user=request.user))
    try:
        if wallet_account is None:
            raise errors.NoPayout(f"you have no wallet, so no payout in epoch {epoch}")
        proof = selectors.payout_proof(account=wallet_account, epoch=epoch)
    except ServiceError as error:
        return HttpResponse(error.message, status=error.status, content_type="text/plain")
    response = HttpResponse(json.dumps(proof, indent=2) + "\n", content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="payout-proof-epoch-{epoch}.json"'
    return response


@login_required
def epoch_list(request):
    page = Paginator(selectors.settlements_newest_first(), 50).get_page(request.GET.get("page"))
    return render(request, "ledger/epoch_list.html", {"page": page, "next_epoch": selectors.epoch_next()})


@login_required
def epoch_detail(request, epoch):
    try:
        settlement = selectors.settlement_for(epoch=epoch)
    except ServiceError as error:
        return render(request, "ledger/epoch_missing.html", {"epoch": epoch, "message": error.message}, status=404)
    policy = settlement.explanation.get("policy", {})
    return render(
        request,
        "ledger/epoch_detail.html",
        {
            "s": settlement,
            "withheld": policy.get("withheld", {}),
            "fees": settlement.explanation.get("fees", []),
            "params": sorted(settlement.policy_params.items()),
        },
    )


@login_required
def treasury(request):
    treasury_account = selectors.treasury_account()
    return render(
        request,
        "ledger/treasury.html",
        {
            "accounts": selectors.protocol_accounts(),
            "entries": selectors.entries_of(account=treasury_account, limit=50) if treasury_account else [],
            "treasury": treasury_account,
            "total_staked": selectors.total_staked(),
        },
    )
