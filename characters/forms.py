from django import forms
from django.forms.renderers import TemplatesSetting
from django.urls import reverse
from django.utils.html import format_html_join

from lorastudio import labels

from .models import Character, Image, LikenessFlag, Preset, Variation


class CharacterForm(forms.ModelForm):
    preset = forms.ModelChoiceField(
        queryset=Preset.objects.all(),
        to_field_name="key",
        required=False,
        empty_label="No preset (add poses later)",
        help_text="Poses and variation specs to start from.",
    )

    class Meta:
        model = Character
        fields = ["name", "trigger_word", "preset", "base_prompt", "negative_prompt"]
        widgets = {
            "base_prompt": forms.Textarea(attrs={"rows": 4}),
            "negative_prompt": forms.Textarea(attrs={"rows": 2}),
            # Phones capitalise the first letter; a trigger word is lower case.
            "trigger_word": forms.TextInput(
                attrs={
                    "autocomplete": "off",
                    "spellcheck": "false",
                    "autocapitalize": "none",
                    "autocorrect": "off",
                }
            ),
        }
        error_messages = {
            "trigger_word": {"unique": "Another character already uses this trigger word."},
            "base_prompt": {"required": "Describe the character: the base prompt cannot be empty."},
        }

    def clean_trigger_word(self):
        """Offered as typed, kept lower-cased (“FitMannequin” is “fitmannequin”)."""
        return (self.cleaned_data.get("trigger_word") or "").strip().lower()


class CharacterEditForm(CharacterForm):
    class Meta(CharacterForm.Meta):
        fields = ["name", "trigger_word", "base_prompt", "negative_prompt"]


class VariationForm(forms.ModelForm):
    anchor_pose = forms.ChoiceField(
        help_text="Edit from the closest anchor: the smaller the edit, the more consistent."
    )

    class Meta:
        model = Variation
        fields = ["label", "prompt", "anchor_pose", "strength", "count"]
        widgets = {
            "prompt": forms.Textarea(attrs={"rows": 2}),
            "strength": forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
        }
        error_messages = {
            "prompt": {"required": "Say what the pose change is: the prompt cannot be empty."}
        }
        labels = {"count": "Images"}

    def __init__(self, *args, character, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["anchor_pose"].choices = [(p.key, p.label) for p in character.poses.all()]
        # As the prompt is typed, the closest anchor is suggested (and explained) beside it.
        self.fields["prompt"].widget.attrs.update(
            {
                "hx-get": reverse("characters:suggest_anchor", args=[character.slug]),
                "hx-trigger": "input changed delay:400ms",
                "hx-target": "#anchor-suggestion",
                "hx-swap": "outerHTML",
            }
        )
        if self.instance.pk:
            self.initial["anchor_pose"] = self.instance.anchor_pose.key
        else:
            self.initial.setdefault("strength", "0.50")

    def _post_clean(self):
        # The service resolves the pose key and validates the model; skip the ModelForm's copy.
        pass


class FilterSelect(forms.Select):
    """Django's select with its options written in Python, in one string, instead of an
    included template each (or a loop of template tags over Django's option dicts): the
    gallery's filters list a hundred options and more (the specs, the last 50 runs) on
    every view. Single choice, no optgroups, options without attributes but `selected`,
    as the gallery's filters are; a test holds the markup to Django's own select."""

    template_name = "characters/_filter_select.html"

    def get_context(self, name, value, attrs):
        context = forms.Widget.get_context(self, name, value, attrs)  # not optgroups()
        context["widget"]["options"] = self.options_html(context["widget"]["value"])
        return context

    def options_html(self, value: list[str]) -> str:
        """The <option> tags, the first one whose value is in `value` selected."""
        rows, chosen = [], False
        for option_value, label in self.choices:
            option_value = "" if option_value is None else option_value
            selected = not chosen and str(option_value) in value
            chosen |= selected
            rows.append((option_value, " selected" if selected else "", label))
        return format_html_join("", '\n  <option value="{}"{}>{}</option>', rows)


class GalleryFilterForm(forms.Form):
    # The project's templates (FilterSelect's is one of them), not only Django's own.
    default_renderer = TemplatesSetting

    kind = forms.ChoiceField(
        required=False, choices=[("", "All kinds"), *Image.Kind.choices], widget=FilterSelect
    )
    pose = forms.ChoiceField(required=False, widget=FilterSelect)
    variation = forms.ChoiceField(required=False, widget=FilterSelect)
    review = forms.ChoiceField(
        required=False, choices=[("", "Any review"), *Image.Review.choices], widget=FilterSelect
    )
    starred = forms.ChoiceField(
        required=False,
        choices=[("", "Starred or not"), ("yes", "Starred"), ("no", "Not starred")],
        widget=FilterSelect,
    )
    run = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, widget=FilterSelect)
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("newest", "Newest"),
            ("oldest", "Oldest"),
            ("pose", "By pose"),
            ("variation", "By variation"),
            ("likeness", "Least alike first"),
            ("-likeness", "Most alike first"),
        ],
        widget=FilterSelect,
    )
    flag = forms.ChoiceField(
        required=False, choices=[("", "Any likeness"), *LikenessFlag.choices], widget=FilterSelect
    )

    def __init__(self, *args, character, **kwargs):
        super().__init__(*args, **kwargs)
        # The poses as rows: the gallery prefetches them for its counts too.
        poses = [(pose.key, pose.label) for pose in character.poses.all()]
        self.fields["pose"].choices = [("", "All poses"), *poses]
        # Keys and labels only: a character has dozens of specs, each a whole row otherwise.
        variations = character.variations.values_list("key", "label")
        self.fields["variation"].choices = [("", "All variations"), *variations]
        runs = character.runs.order_by("-created_at").values_list("id", "kind")[:50]
        self.fields["run"].choices = [("", "Any run")] + [
            (str(i), f"Run #{i} ({labels.label(kind)})") for i, kind in runs
        ]

    def filters(self) -> dict:
        data = self.cleaned_data
        starred = {"yes": True, "no": False}.get(data.get("starred") or "")
        return {
            "kind": data.get("kind") or None,
            "pose": data.get("pose") or None,
            "variation": data.get("variation") or None,
            "review": data.get("review") or None,
            "starred": starred,
            "run": data.get("run"),
            "flag": data.get("flag") or None,
            "sort": data.get("sort") or "newest",
        }
