from django import forms
from django.conf import settings

from .models import GenerationRun, Provider
from .runs import VARIATION_MODES


class RunForm(forms.Form):
    """What a user asks a run for, from the anchor board or the character page."""

    kind = forms.ChoiceField(choices=GenerationRun.Kind.choices)
    provider = forms.ChoiceField(choices=Provider.choices, required=False)
    poses = forms.MultipleChoiceField(required=False, choices=())
    variations = forms.MultipleChoiceField(required=False, choices=())
    count = forms.IntegerField(required=False, min_value=1, max_value=50)
    mode = forms.ChoiceField(
        choices=[(m, m.replace("_", " ")) for m in VARIATION_MODES], required=False
    )
    like_image_id = forms.IntegerField(required=False)
    next = forms.CharField(required=False)

    def __init__(self, *args, character, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["poses"].choices = [(p.key, p.label) for p in character.poses.all()]
        self.fields["variations"].choices = [(v.key, v.label) for v in character.variations.all()]

    def clean(self):
        data = super().clean()
        # Nothing ticked is a mistake to point out, never "everything" (and its price).
        kind = data.get("kind")
        if kind == GenerationRun.Kind.ANCHORS and not data.get("like_image_id"):
            if not data.get("poses"):
                self.add_error("poses", "Tick at least one pose to generate candidates for.")
        elif kind == GenerationRun.Kind.VARIATIONS and not data.get("variations"):
            self.add_error("variations", "Tick at least one variation to generate.")
        return data

    def error_text(self) -> str:
        """The form's errors as one sentence for a message."""
        return " ".join(e for errors in self.errors.values() for e in errors)

    def plan_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "provider": data["provider"] or settings.PROVIDER,
            "poses": data["poses"] or None,
            "variations": data["variations"] or None,
            "count": data["count"],
            "mode": data["mode"] or "image_to_image",
            "like_image_id": data["like_image_id"],
        }


class BudgetForm(forms.Form):
    """The installation's limits, as a lead sets them (empty: no limit)."""

    monthly_limit = forms.DecimalField(
        required=False, min_value=0, max_digits=10, decimal_places=2, label="Monthly limit ($)"
    )
    per_run_cap = forms.DecimalField(
        required=False, min_value=0, max_digits=10, decimal_places=2, label="Cap per run ($)"
    )
    approval_threshold = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=10,
        decimal_places=2,
        label="Runs above this wait for a lead ($)",
    )


class UserBudgetForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.HiddenInput)
    monthly_limit = forms.DecimalField(
        required=False, min_value=0, max_digits=10, decimal_places=2, label="Monthly limit ($)"
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("decline", "Decline")])
    reason = forms.CharField(required=False, max_length=500)
