from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from feedback_site.annotation import api, views
from feedback_site.attribution import views as attribution_views
from feedback_site.quality import views as quality_views
from feedback_site.rounds import views as rounds_views
from feedback_site.training import views as training_views

# The REST API under one prefix, and first: the resolver tries patterns in order, and trying every
# page's pattern before reaching the judging loop's two endpoints was a tenth of their CPU under load.
api_patterns = [
    path("datanets/<slug:slug>/next/", api.NextComparisonApi.as_view(), name="api_next"),
    path("assignments/<int:assignment_id>/judgment/", api.SubmitJudgmentApi.as_view(), name="api_submit"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("datanets/", api.DatanetListApi.as_view(), name="api_datanets"),
    path("datanets/<slug:slug>/import/", api.DatanetImportApi.as_view(), name="api_datanet_import"),
    path("datanets/<slug:slug>/members/", api.DatanetMemberApi.as_view(), name="api_datanet_members"),
    path("datanets/<slug:slug>/snapshots/", api.SnapshotListApi.as_view(), name="api_snapshots"),
    path("judgments/<int:judgment_id>/revisions/", api.ReviseJudgmentApi.as_view(), name="api_revise"),
    path("snapshots/<int:snapshot_id>/export/", api.SnapshotExportApi.as_view(), name="api_snapshot_export"),
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("", views.home, name="home"),
    path("healthz/", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("me/judgments/", views.my_judgments, name="my_judgments"),
    path("datanets/new/", views.datanet_create, name="datanet_create"),
    path("datanets/<slug:slug>/", views.datanet_detail, name="datanet_detail"),
    path("datanets/<slug:slug>/import/", views.datanet_import, name="datanet_import"),
    path("datanets/<slug:slug>/members/", views.datanet_member_add, name="datanet_member_add"),
    path("datanets/<slug:slug>/snapshots/", views.snapshot_create, name="snapshot_create"),
    path("datanets/<slug:slug>/judge/", views.judge, name="judge"),
    path("datanets/<slug:slug>/judge/next/", views.judge_next, name="judge_next"),
    path("datanets/<slug:slug>/judge/<int:assignment_id>/submit/", views.judge_submit, name="judge_submit"),
    path("datanets/<slug:slug>/judge/revise/", views.judge_revise, name="judge_revise"),
    path("snapshots/<int:snapshot_id>/export/<str:export_format>/", views.snapshot_download, name="snapshot_download"),
    path("me/quality/", quality_views.my_quality, name="my_quality"),
    path("datanets/<slug:slug>/quality/", quality_views.dashboard, name="quality_dashboard"),
    path("datanets/<slug:slug>/quality/recompute/", quality_views.recompute, name="quality_recompute"),
    path("datanets/<slug:slug>/quality/gold/", quality_views.gold_mark, name="quality_gold"),
    path("datanets/<slug:slug>/quality/annotators/<str:pseudonym>/", quality_views.annotator_review, name="quality_annotator"),
    path(
        "datanets/<slug:slug>/quality/annotators/<str:pseudonym>/exclude/",
        quality_views.exclusion_add,
        name="quality_exclusion_add",
    ),
    path(
        "datanets/<slug:slug>/quality/exclusions/<int:exclusion_id>/revoke/",
        quality_views.exclusion_revoke,
        name="quality_exclusion_revoke",
    ),
    path("datanets/<slug:slug>/rounds/", rounds_views.rounds, name="datanet_rounds"),
    path("generation/jobs/<int:job_id>/", rounds_views.job_detail, name="generation_job"),
    path("generation/jobs/<int:job_id>/progress/", rounds_views.job_progress, name="generation_job_progress"),
    path("generation/jobs/<int:job_id>/cancel/", rounds_views.job_cancel, name="generation_job_cancel"),
    path("generation/jobs/<int:job_id>/retry/", rounds_views.job_retry, name="generation_job_retry"),
    path("training/", training_views.jobs, name="training_jobs"),
    path("training/jobs/<int:job_id>/", training_views.job_detail, name="training_job"),
    path("training/jobs/<int:job_id>/progress/", training_views.job_progress, name="training_job_progress"),
    path("training/jobs/<int:job_id>/cancel/", training_views.job_cancel, name="training_job_cancel"),
    path("training/jobs/<int:job_id>/retry/", training_views.job_retry, name="training_job_retry"),
    path("models/", training_views.registry, name="model_registry"),
    path("models/compare/", training_views.compare, name="model_compare"),
    path("me/attribution/", attribution_views.my_attribution, name="my_attribution"),
    path("models/<int:version_id>/attribution/", attribution_views.version_attribution, name="version_attribution"),
    path(
        "models/<int:version_id>/attribution/launch/",
        attribution_views.version_attribution_launch,
        name="version_attribution_launch",
    ),
    path("", include("feedback_site.ledger.urls")),
    path("", include("feedback_site.serving.urls")),
    path("", include("feedback_site.governance.urls")),
]
