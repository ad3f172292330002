from django import forms

from datasets.models import DatasetExport
from generation.models import Provider
from generation.providers import provider_problem
from generation.providers.catalog import trainer_for, training_limit
from generation.runs import REFERENCE_SHOTS
from lorastudio import labels

from . import defaults
from .models import LoraModel, PinReference, TrainingPreset, WebhookEndpoint


def provider_choices() -> list[tuple[str, str]]:
    """Providers, each saying whether it can train here."""
    choices = []
    for value, label in Provider.choices:
        problem = provider_problem(value, training=True)
        choices.append((value, f"{label} (not configured)" if problem else label))
    return choices


SETTINGS = ("steps", "learning_rate", "rank", "resolution", "batch_size")


def image_minimums() -> str:
    """What each provider asks of the image count, with its source, said before spending."""
    lines = []
    for value, label in Provider.choices:
        trainer = trainer_for(value)
        if trainer.min_images > 1:
            lines.append(f"{label} needs at least {trainer.min_images} images.")
        if trainer.recommended_images:
            lines.append(f"{label} recommends {trainer.recommended_images} or more.")
    return " ".join(lines)


def setting_help(name: str) -> str:
    """Which providers take a setting, and within which range on each."""
    parts = []
    for value, label in Provider.choices:
        if name not in trainer_for(value).takes:
            parts.append(f"{label}: not taken (it sets this itself)")
        elif name == "resolution":
            parts.append(f"{label}: sizes {training_limit(value, name).describe()} px")
        else:
            parts.append(f"{label}: {training_limit(value, name).describe()}")
    return "; ".join(parts) + "."


class TrainingForm(forms.Form):
    """A training's settings; left blank, a setting takes the preset's default."""

    export = forms.ModelChoiceField(
        queryset=DatasetExport.objects.filter(status=DatasetExport.Status.READY).select_related(
            "dataset__character"
        ),
        empty_label=None,
    )
    provider = forms.ChoiceField()
    preset = forms.ChoiceField(required=False)
    steps = forms.IntegerField(required=False, min_value=100, max_value=10000)
    learning_rate = forms.DecimalField(required=False, max_digits=8, decimal_places=7)
    rank = forms.IntegerField(required=False, min_value=4, max_value=128)
    resolution = forms.CharField(required=False, max_length=20)
    batch_size = forms.IntegerField(required=False, min_value=1, max_value=8)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = provider_choices()
        self.fields["provider"].help_text = image_minimums()
        # Only what the chosen provider takes is shown (static/js/training_form.js hides and
        # disables the rest, so it is not posted); the service refuses it if it is.
        for name in SETTINGS:
            takers = [v for v in Provider.values if name in trainer_for(v).takes]
            self.fields[name].widget.attrs["data-providers"] = " ".join(takers)
            self.fields[name].help_text = setting_help(name)
        self.fields["preset"].choices = (
            [("", "Suggested for this export")]
            + [(p.key, p.label) for p in defaults.BUILT_IN_PRESETS.values()]
            + [(f"saved:{p.id}", f"Saved: {p.name}") for p in TrainingPreset.objects.all()]
        )
        self.fields["export"].label_from_instance = lambda e: (
            f"{e.dataset.character.name} · {e.dataset.name} · {e.image_count} images "
            f"({e.created_at:%Y-%m-%d %H:%M})"
        )

    def plan_arguments(self) -> dict:
        data = self.cleaned_data
        preset = data.get("preset") or None
        saved = None
        if preset and preset.startswith("saved:"):
            saved = TrainingPreset.objects.filter(id=preset.removeprefix("saved:")).first()
            preset = None
        return {
            "export": data["export"],
            "provider": data["provider"],
            "preset": preset,
            "saved_preset": saved,
            "steps": data.get("steps"),
            "learning_rate": data.get("learning_rate"),
            "rank": data.get("rank"),
            "resolution": data.get("resolution") or None,
            "batch_size": data.get("batch_size"),
        }


class SavePresetForm(forms.Form):
    name = forms.CharField(max_length=60)
    steps = forms.IntegerField(min_value=100, max_value=10000)
    learning_rate = forms.DecimalField(max_digits=8, decimal_places=7)
    rank = forms.IntegerField(min_value=4, max_value=128)
    resolution = forms.CharField(max_length=20)
    batch_size = forms.IntegerField(min_value=1, max_value=8)


class ReferenceSetForm(forms.Form):
    provider = forms.ChoiceField(choices=Provider.choices)
    scale = forms.DecimalField(min_value=0, max_value=2, decimal_places=2, initial=1)
    shots = forms.MultipleChoiceField(
        required=False,
        choices=[(s, labels.label(s)) for s, _ in REFERENCE_SHOTS],
        widget=forms.CheckboxSelectMultiple,
    )


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https")
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        required=False,
        choices=WebhookEndpoint.Event.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )


ROLE_CHOICES = PinReference.Role.choices


def lora_choices(character) -> list[tuple[str, str]]:
    approved = LoraModel.objects.filter(character=character, status=LoraModel.Status.APPROVED)
    return [("", "No LoRA")] + [(str(lora.id), f"v{lora.version}") for lora in approved]
