from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from generation import providers
from generation.selectors import character_costs, preferred_provider
from lorastudio.errors import Refusal
from lorastudio.forms import add_service_errors
from lorastudio.refusals import goes_back_to, refused

from . import anchor_suggestions, selectors, services, tiles
from .forms import CharacterEditForm, CharacterForm, GalleryFilterForm, VariationForm
from .models import Image


def _providers(request) -> dict:
    """The provider choices every run form shows, with the remembered one preselected."""
    return {
        "providers": providers.available(),
        "chosen_provider": preferred_provider(request.session.get("provider")),
    }


def character_list(request):
    cards = [(c, selectors.sheet_of_listed(c)) for c in selectors.characters_for_list()]
    return render(request, "characters/list.html", {"cards": cards})


def character_create(request):
    form = CharacterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["preset"] = data["preset"].key if data["preset"] else None
        try:
            character = services.create_character(**data, created_by=request.user)
        except Refusal as exc:  # shown on the form, beside what was typed
            add_service_errors(form, exc)
        else:
            messages.success(
                request, f"{character.name} is ready: generate the character sheet next."
            )
            return redirect(character)
    return render(
        request, "characters/form.html", {"form": form, "presets": selectors.presets_for_form()}
    )


def character_detail(request, slug):
    character = get_object_or_404(selectors.characters_with_poses(), slug=slug)
    counts = selectors.curation_counts(character)
    steps = selectors.pipeline_progress(character, counts)
    spec_rows = selectors.variation_rows(character)
    return render(
        request,
        "characters/detail.html",
        {
            "character": character,
            "steps": steps,
            "next_step": selectors.next_step(steps),
            "sheet": selectors.character_sheet(character),
            "spec_rows": spec_rows,
            "folded_specs": sum(row.folded for row in spec_rows),
            "counts": counts,
            **_providers(request),
        },
    )


def character_edit(request, slug):
    character = get_object_or_404(selectors.characters(), slug=slug)
    # The form edits a copy: a refused change must not show on the page's heading.
    form = CharacterEditForm(
        request.POST or None, instance=selectors.characters().get(pk=character.pk)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_character(character=character, **form.cleaned_data)
        except Refusal as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect(character)
    return render(request, "characters/edit.html", {"form": form, "character": character})


def variation_edit(request, slug, key=None):
    character = get_object_or_404(selectors.characters(), slug=slug)
    variation = (
        get_object_or_404(selectors.character_variations(character), key=key) if key else None
    )
    form = VariationForm(request.POST or None, instance=variation, character=character)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_variation(
                character=character, variation=variation, **form.cleaned_data
            )
        except Refusal as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Variation “{saved.label}” saved.")
            return redirect(character)
    return render(
        request,
        "characters/variation_form.html",
        {"form": form, "character": character, "variation": variation},
    )


def anchor_board(request, slug):
    """One column per pose with its candidates; click one to make it the pose's anchor."""
    character = get_object_or_404(selectors.characters(), slug=slug)
    context = _board_context(character, request)
    steps = selectors.pipeline_progress(character)
    context["next_step"] = selectors.next_step(steps) if steps[0].state == "done" else None
    return render(request, "characters/anchor_board.html", context)


def _board_context(character, request):
    candidates = {}
    # `?order=likeness`: each pose's candidates most alike to the other picked anchors first.
    order = "likeness" if request.GET.get("order") == "likeness" else "newest"
    sort = "-likeness" if order == "likeness" else "newest"
    for image in selectors.anchor_candidates(character, sort=sort):
        candidates.setdefault(image.pose_id, []).append(image)
    sheet = selectors.character_sheet(character)
    columns = [(pose, anchor, candidates.get(pose.id, [])) for pose, anchor in sheet]
    return {
        "character": character,
        "sheet": sheet,
        "columns": columns,
        "picked": sum(1 for _, anchor in sheet if anchor),
        "order": order,
        **_providers(request),
    }


@require_POST
@goes_back_to("characters:anchors", "slug")
def anchor_pick(request, slug, pose):
    """Make an image the pose's anchor; a refusal (AnchorRefused) is answered by
    lorastudio.refusals like every other."""
    character = get_object_or_404(selectors.characters(), slug=slug)
    image_id = request.POST.get("image_id", "")
    if not image_id.isdigit():
        return refused(request, "Choose the image to pick as this pose's anchor.")
    services.pick_anchor(
        character=character, pose_key=pose, image_id=int(image_id), picked_by=request.user
    )
    if request.htmx:
        return render(
            request, "characters/anchor_board.html#board", _board_context(character, request)
        )
    return redirect("characters:anchors", slug=slug)


GALLERY_PAGE_SIZE = 60


def gallery(request, slug):
    """Every image of the character: filter, sort, review with the keyboard."""
    character = get_object_or_404(selectors.characters_with_poses(), slug=slug)
    form = GalleryFilterForm(request.GET or None, character=character)
    filters = form.filters() if form.is_valid() else {}
    # A filter change or the next page (htmx) is the grid alone, without the counts.
    counts = None if request.htmx else selectors.curation_counts(character)
    page = selectors.gallery_page(
        character,
        number=request.GET.get("page"),
        per_page=GALLERY_PAGE_SIZE,
        counts=counts,
        **filters,
    )
    query = _query_without_page(request)
    next_page = None
    if page.has_next():
        # Reviewing the unreviewed takes them out of the list: the next ones move up.
        reviewing = filters.get("review") == Image.Review.UNREVIEWED
        number = page.number if reviewing else page.next_page_number()
        next_page = f"?{query}&page={number}" if query else f"?page={number}"
    context = {
        "character": character,
        "form": form,
        "page": page,
        "tiles": tiles.gallery_tiles(page.object_list),
        "query": query,
        "next_page": next_page,
    }
    if request.htmx:
        # A filter change or the next page: the grid alone, without the counts above it
        # (they change with reviews, and refresh themselves then).
        return render(request, "characters/gallery.html#gallery-region", context)
    context["counts"] = counts
    context["costs"] = character_costs(character, approved=counts.approved)
    if counts.approved >= counts.target[0]:
        context["dataset_url"] = selectors.step_url(character, "dataset")
    return render(request, "characters/gallery.html", context)


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def curation_counts(request, slug):
    character = get_object_or_404(selectors.characters(), slug=slug)
    counts = selectors.curation_counts(character)
    return render(
        request,
        "characters/gallery.html#counts",
        {
            "character": character,
            "counts": counts,
            "costs": character_costs(character, approved=counts.approved),
        },
    )


@require_POST
@goes_back_to("characters:gallery", "slug")
def image_review(request, slug, image_id):
    """Approve, reject, reset or star one image; answers with its tile (a refusal is answered
    by lorastudio.refusals)."""
    character = get_object_or_404(selectors.characters(), slug=slug)
    image = get_object_or_404(selectors.character_images(character), id=image_id)
    starred = request.POST.get("starred")
    services.review_image(
        image=image,
        reviewed_by=request.user,
        review=request.POST.get("review") or None,
        starred=None if starred is None else starred == "true",
    )
    row = selectors.tile_row(character, image.id)
    return render(request, "characters/gallery.html#tile", {"tile": tiles.gallery_tile(row)})


@require_POST
@goes_back_to("characters:gallery", "slug")
def bulk_review(request, slug):
    character = get_object_or_404(selectors.characters(), slug=slug)
    ids = [int(i) for i in request.POST.getlist("image") if i.isdigit()]
    updated = services.bulk_review(
        character=character,
        image_ids=ids,
        review=request.POST.get("review", ""),
        reviewed_by=request.user,
    )
    return JsonResponse({"updated": updated})


def suggest_anchor(request, slug):
    """The closest anchor pose for a variation prompt, with the reason (htmx, as one types)."""
    character = get_object_or_404(selectors.characters(), slug=slug)
    poses = list(selectors.character_poses(character))
    suggestion = anchor_suggestions.suggest_anchor(
        request.GET.get("prompt", ""),
        [p.key for p in poses],
        {p.key: p.label for p in poses},
    )
    label = next((p.label for p in poses if suggestion and p.key == suggestion.pose), "")
    return render(
        request,
        "characters/partials.html#anchor-suggestion",
        {"suggestion": suggestion, "suggested_label": label},
    )
