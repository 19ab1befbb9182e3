"""The generation-job form: the policy and what its replies are compared with, then the sampling settings, each
built from rlhf's declaration (`rlhf.generation.GenerationSettings`), so the form refuses what rlhf refuses."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from feedback_site.training.models import BaseModel, ModelVersion
from rlhf.fields import ConfigError, field_check, field_describe
from rlhf.generation import GenerationSettings

from .services import DEVICES, GENERATION_SETTINGS


def _policies():
    return ModelVersion.objects.filter(kind="dpo_policy").order_by("-id")


def _sampling_field(name: str) -> forms.Field:
    info = field_describe(GenerationSettings, name)

    def check(value: Any) -> None:
        try:
            field_check(GenerationSettings, name, value)
        except ConfigError as exc:
            raise ValidationError(str(exc)) from None

    bounds = info["bounds"]
    limits = {"min": getattr(bounds, "minimum", None), "max": getattr(bounds, "maximum", None)}
    widget = forms.NumberInput(attrs={key: value for key, value in limits.items() if value is not None})
    kind = forms.IntegerField if info["type"] is int else forms.FloatField
    return kind(required=False, initial=info["default"], help_text=info["help"], validators=[check], widget=widget)


class GenerationJobForm(forms.Form):
    policy = forms.ModelChoiceField(queryset=_policies(), help_text="The DPO policy version whose replies are judged.")
    second_version = forms.ModelChoiceField(
        queryset=_policies(), required=False,
        help_text="Optional: another policy version; each comparison then pits one version's reply against the other's.")
    reference = forms.ModelChoiceField(
        queryset=BaseModel.objects.filter(family="causal_lm").order_by("name"), required=False,
        help_text="Optional: a reference model instead of a second version. With neither, a policy's own replies "
                  "to a prompt are compared with one another.")
    prompt_limit = forms.IntegerField(required=False, min_value=1, help_text="Empty: every prompt of the Datanet.")
    device = forms.ChoiceField(choices=[(d, d) for d in DEVICES], initial="cpu")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in GENERATION_SETTINGS:
            self.fields[name] = _sampling_field(name)

    def job_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        return {"policy": data.pop("policy"), "second_version": data.pop("second_version"),
                "reference": data.pop("reference"), "prompt_limit": data.pop("prompt_limit"),
                "device": data.pop("device"), "settings": data}
