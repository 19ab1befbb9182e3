"""The job form: the snapshot, method and base model, then the settings a person usually changes, each built
from rlhf's declaration of it (type, default, help, choices, range), so the form refuses what rlhf refuses with
rlhf's words."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from feedback_site.annotation.models import Snapshot
from rlhf.fields import ConfigError, field_check, field_describe

from .models import BaseModel, Method
from .services import JOB_CONFIG_CLASSES, setting_methods

# The settings the form offers (the services take a few more); the others keep rlhf's defaults.
FORM_SETTINGS = ("num_epochs", "learning_rate", "batch_size", "max_length", "lora", "beta", "head_features", "l2",
                 "save_steps", "device")
# Where the site proposes other than rlhf's default: a job retried after a lost worker resumes from its last
# checkpoint, so the form proposes checkpoints.
FORM_INITIAL = {"save_steps": 10}
CHOICE_LABELS = {"cpu": "CPU", "cuda": "GPU (gpu queue)"}


def setting_form_field(name: str) -> forms.Field:
    """A form field for job setting `name`, from rlhf's declaration. Left empty, the job keeps rlhf's default;
    a setting some methods do not read, or whose default differs by method, starts empty."""
    methods = setting_methods(name)
    described = [field_describe(JOB_CONFIG_CLASSES[method], name) for method in methods]
    info = described[0]
    defaults = {str(item["default"]) for item in described}
    every_method = len(methods) == len(Method.values) and len(defaults) == 1
    default_text = info["default"] if len(defaults) == 1 else "the method's default"
    says_empty = every_method or default_text is None  # an empty default is the help's to explain
    help_text = info["help"] if says_empty else f"{info['help']} Empty: {default_text}."
    config_class = JOB_CONFIG_CLASSES[methods[0]]

    def check(value: Any) -> None:
        try:
            field_check(config_class, name, value)
        except ConfigError as exc:
            raise ValidationError(str(exc)) from None

    common: dict[str, Any] = {"required": False, "help_text": help_text, "validators": [check],
                              "initial": FORM_INITIAL.get(name, info["default"] if every_method else None)}
    if info["choices"]:
        blank = [] if every_method else [("", f"{default_text} (default)")]
        return SettingChoiceField(choices=blank + [(c, CHOICE_LABELS.get(c, c)) for c in info["choices"]], **common)
    if info["type"] is bool:
        return forms.BooleanField(**common)
    # The inclusive bounds guide the browser's input; the check above refuses, with rlhf's message.
    bounds = info["bounds"]
    limits = {"min": getattr(bounds, "minimum", None), "max": getattr(bounds, "maximum", None)}
    widget = forms.NumberInput(attrs={key: value for key, value in limits.items() if value is not None})
    if info["type"] is int:
        return forms.IntegerField(widget=widget, **common)
    return forms.FloatField(widget=widget, **common)


class SettingChoiceField(forms.ChoiceField):
    """A select of a setting's choices; whether a value is one of them is rlhf's check, said in its words."""

    def validate(self, value: Any) -> None:
        forms.Field.validate(self, value)


class JobForm(forms.Form):
    snapshot = forms.ModelChoiceField(queryset=Snapshot.objects.select_related("datanet").order_by("-id"))
    method = forms.ChoiceField(choices=Method.choices)
    base_model = forms.ModelChoiceField(queryset=BaseModel.objects.order_by("name"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in FORM_SETTINGS:
            self.fields[name] = setting_form_field(name)
