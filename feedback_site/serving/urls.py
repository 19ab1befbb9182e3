from django.urls import path

from . import api, views

urlpatterns = [
    path("serving/me/", views.consumer, name="serving_consumer"),
    path("serving/versions/", views.served, name="serving_versions"),
    path("serving/versions/<int:version_id>/publish/", views.publish, name="serving_publish"),
    path("serving/versions/<int:version_id>/unpublish/", views.unpublish, name="serving_unpublish"),
    path("api/inference/score/", api.ScoreApi.as_view(), name="api_inference_score"),
    path("api/inference/generate/", api.GenerateApi.as_view(), name="api_inference_generate"),
]
