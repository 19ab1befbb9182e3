from django import forms

from .models import Datanet


class DatanetForm(forms.ModelForm):
    class Meta:
        model = Datanet
        fields = ["name", "domain", "guidelines", "overlap", "gold_rate", "max_pending", "lock_minutes",
                  "assignment_strategy", "random_share"]
        widgets = {"guidelines": forms.Textarea(attrs={"rows": 8})}


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL: our format, TRL prompt/chosen/rejected, or HH-RLHF chosen/rejected.")
    skip_invalid = forms.BooleanField(
        required=False, label="Skip invalid lines",
        help_text="Import the valid lines and list each line left out, instead of refusing the whole file.",
    )


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)


class JudgmentForm(forms.Form):
    choice = forms.ChoiceField(choices=[("A", "A"), ("B", "B"), ("tie", "tie"), ("both_bad", "both bad")])
    strength = forms.TypedChoiceField(coerce=int, choices=[(1, "slightly"), (2, "clearly"), (3, "much")])
    rationale = forms.CharField(required=False)
    edited_reply = forms.CharField(required=False)
    time_spent_ms = forms.IntegerField(min_value=0, required=False)
    idempotency_key = forms.CharField(max_length=64, required=False)
