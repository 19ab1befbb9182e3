"""Finding what a rounds command names, with the error a person can act on."""

from django.core.management.base import CommandError
from django.db.models import Q

from feedback_site.annotation.models import Datanet
from feedback_site.training.models import BaseModel, ModelVersion


def datanet_named(name: str) -> Datanet:
    datanet = Datanet.objects.filter(Q(name=name) | Q(slug=name)).first()
    if datanet is None:
        raise CommandError(f"datanet: no Datanet named {name!r}")
    return datanet


def version_named(name: str | None, field: str) -> ModelVersion | None:
    if not name:
        return None
    version = ModelVersion.objects.filter(name=name).first()
    if version is None:
        raise CommandError(f"{field}: no registered model version named {name!r} (see /models/)")
    return version


def base_model_named(name: str | None, field: str) -> BaseModel | None:
    if not name:
        return None
    model = BaseModel.objects.filter(name=name).first()
    if model is None:
        raise CommandError(f"{field}: no base model named {name!r} (register one with register_base_model)")
    return model
