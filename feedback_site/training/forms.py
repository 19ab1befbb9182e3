from django import forms

from feedback_site.annotation.models import Snapshot

from .models import BaseModel, Method


class JobForm(forms.Form):
    snapshot = forms.ModelChoiceField(queryset=Snapshot.objects.select_related("datanet").order_by("-id"))
    method = forms.ChoiceField(choices=Method.choices)
    base_model = forms.ModelChoiceField(queryset=BaseModel.objects.order_by("name"))
    num_epochs = forms.FloatField(initial=3, min_value=0.01, help_text="passes over the data")
    learning_rate = forms.FloatField(required=False, help_text="empty: the method's default")
    batch_size = forms.IntegerField(initial=8, min_value=1)
    max_length = forms.IntegerField(initial=512, min_value=8, help_text="longest prompt+reply in tokens; longer pairs are dropped and counted")
    lora = forms.BooleanField(required=False, help_text="train a LoRA adapter instead of all weights")
    beta = forms.FloatField(required=False, help_text="DPO only: pull towards the reference")
    head_features = forms.ChoiceField(
        required=False,
        choices=[("", "conversation+reply (default)"), ("conversation", "conversation"), ("conversation+reply", "conversation+reply")],
        help_text="linear head only: the conversation's embedding, and by default the reply's own beside it",
    )
    l2 = forms.FloatField(required=False, min_value=0, help_text="linear head only: empty: chosen by cross-validation")
    save_steps = forms.IntegerField(initial=10, min_value=0, help_text="checkpoint every N steps (resume after a lost worker)")
    device = forms.ChoiceField(choices=[("auto", "auto"), ("cpu", "CPU"), ("cuda", "GPU (gpu queue)")], initial="auto")
