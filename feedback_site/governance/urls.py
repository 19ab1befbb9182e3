from django.urls import path

from . import api, views

urlpatterns = [
    path("api/governance/policies/", api.PolicyListApi.as_view(), name="api_governance_policies"),
    path("api/governance/proposals/", api.ProposalApi.as_view(), name="api_governance_proposals"),
    path("governance/reports/", views.report_list, name="governance_reports"),
    path("governance/reports/new/", views.report_new, name="governance_report_new"),
    path("governance/reports/<int:report_id>/", views.report_detail, name="governance_report"),
    path(
        "governance/reports/<int:report_id>/progress/",
        views.report_progress,
        name="governance_report_progress",
    ),
    path("governance/reports/<int:report_id>/view/", views.report_view, name="governance_report_view"),
    path(
        "governance/reports/<int:report_id>/download/",
        views.report_download,
        name="governance_report_download",
    ),
    path("governance/proposals/", views.proposal_list, name="governance_proposals"),
    path("governance/proposals/new/", views.proposal_new, name="governance_proposal_new"),
    path("governance/proposals/<int:proposal_id>/", views.proposal_detail, name="governance_proposal"),
    path("governance/proposals/<int:proposal_id>/vote/", views.proposal_vote, name="governance_vote"),
    path(
        "governance/proposals/<int:proposal_id>/comment/", views.proposal_comment, name="governance_comment"
    ),
    path("governance/proposals/<int:proposal_id>/close/", views.proposal_close, name="governance_close"),
]
