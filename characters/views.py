from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render

from lorastudio.forms import add_service_errors

from . import selectors, services
from .forms import CharacterEditForm, CharacterForm, VariationForm
from .models import Character, Preset


def character_list(request):
    return render(request, "characters/list.html", {"characters": selectors.characters_for_list()})


def character_create(request):
    form = CharacterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["preset"] = data["preset"].key if data["preset"] else None
        try:
            character = services.create_character(**data, created_by=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"{character.name} is ready: generate the character sheet next."
            )
            return redirect(character)
    presets = Preset.objects.annotate(
        pose_count=Count("poses", distinct=True), variation_count=Count("variations", distinct=True)
    )
    return render(request, "characters/form.html", {"form": form, "presets": presets})


def character_detail(request, slug):
    character = get_object_or_404(Character.objects.select_related("preset"), slug=slug)
    return render(
        request,
        "characters/detail.html",
        {
            "character": character,
            "steps": selectors.pipeline_progress(character),
            "sheet": selectors.character_sheet(character),
            "variations": character.variations.select_related("anchor_pose"),
        },
    )


def character_edit(request, slug):
    character = get_object_or_404(Character, slug=slug)
    form = CharacterEditForm(request.POST or None, instance=Character.objects.get(pk=character.pk))
    if request.method == "POST" and form.is_valid():
        try:
            services.update_character(character=character, **form.cleaned_data)
        except (ValidationError, services.CharacterError) as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect(character)
    return render(request, "characters/edit.html", {"form": form, "character": character})


def variation_edit(request, slug, key=None):
    character = get_object_or_404(Character, slug=slug)
    variation = get_object_or_404(character.variations, key=key) if key else None
    form = VariationForm(request.POST or None, instance=variation, character=character)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_variation(
                character=character, variation=variation, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Variation “{saved.label}” saved.")
            return redirect(character)
    return render(
        request,
        "characters/variation_form.html",
        {"form": form, "character": character, "variation": variation},
    )
