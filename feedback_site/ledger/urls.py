from django.urls import path

from . import api, views

urlpatterns = [
    path("ledger/wallet/", views.wallet, name="ledger_wallet"),
    path("ledger/wallet/stake/", views.stake, name="ledger_stake"),
    path("ledger/wallet/unstake/", views.unstake, name="ledger_unstake"),
    path("ledger/wallet/withdraw/", views.withdraw, name="ledger_withdraw"),
    path("ledger/epochs/", views.epoch_list, name="ledger_epochs"),
    path("ledger/epochs/<int:epoch>/", views.epoch_detail, name="ledger_epoch"),
    path("ledger/epochs/<int:epoch>/proof.json", views.proof_download, name="ledger_proof"),
    path("ledger/treasury/", views.treasury, name="ledger_treasury"),
    path("api/ledger/consumer-account/", api.ConsumerAccountApi.as_view(), name="api_ledger_consumer_account"),
    path("api/ledger/usage/", api.UsageApi.as_view(), name="api_ledger_usage"),
    path("api/ledger/wallet/", api.WalletApi.as_view(), name="api_ledger_wallet"),
    path("api/ledger/stake/", api.StakeApi.as_view(stake_action="stake"), name="api_ledger_stake"),
    path("api/ledger/unstake/", api.StakeApi.as_view(stake_action="unstake"), name="api_ledger_unstake"),
    path("api/ledger/withdraw/", api.StakeApi.as_view(stake_action="withdraw"), name="api_ledger_withdraw"),
    path("api/ledger/epochs/<int:epoch>/", api.EpochApi.as_view(), name="api_ledger_epoch"),
    path("api/ledger/epochs/<int:epoch>/proof/", api.ProofApi.as_view(), name="api_ledger_proof"),
]
