from django import forms
from django.conf import settings

from generation.models import Provider

from .gaps import MAX_GAP_IMAGES
from .models import DEFAULT_RESOLUTION, Dataset


class DatasetForm(forms.Form):
    name = forms.CharField(
        max_length=100, required=False, help_text="Blank: the next free “set N”."
    )
    caption_template = forms.CharField(
        max_length=300,
        required=False,
        initial=Dataset._meta.get_field("caption_template").default,
        help_text="{trigger}, {caption}, {pose} and {shot} are filled in; the trigger must "
        "end up exactly once in every caption.",
    )

    def clean_caption_template(self):
        return self.cleaned_data["caption_template"] or None


class ReplaceForm(forms.Form):
    find = forms.CharField(max_length=200, strip=False)
    replace = forms.CharField(max_length=200, required=False, strip=False)
    match_case = forms.BooleanField(required=False)


class CaptionRunForm(forms.Form):
    provider = forms.ChoiceField(choices=Provider.choices, required=False)
    overwrite = forms.BooleanField(required=False)
    scope = forms.ChoiceField(
        choices=[("uploads", "uploads"), ("uncaptioned", "uncaptioned")], required=False
    )

    def clean_scope(self):
        return self.cleaned_data["scope"] or "uploads"

    def clean_provider(self):
        return self.cleaned_data["provider"] or settings.PROVIDER


class GapForm(forms.Form):
    shot = forms.ChoiceField(
        choices=[("", "")] + [(s, s) for s in ("close", "mid", "far")], required=False
    )
    pose = forms.SlugField(required=False)
    count = forms.IntegerField(min_value=1, max_value=MAX_GAP_IMAGES)
    provider = forms.ChoiceField(choices=Provider.choices, required=False)

    def clean_provider(self):
        return self.cleaned_data["provider"] or settings.PROVIDER


class ExportForm(forms.Form):
    resolution = forms.IntegerField(min_value=256, max_value=4096, initial=DEFAULT_RESOLUTION)
    accept_warnings = forms.BooleanField(required=False)
