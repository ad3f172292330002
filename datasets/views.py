"""Dataset pages: a character's datasets, the dataset page (items, balance, captions,
exports) and its htmx partials. Each view parses input, calls one service and renders."""

import json

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from characters.models import Character, ShotType
from generation.providers import available as available_providers
from lorastudio import confirm
from lorastudio.errors import Refusal
from lorastudio.idempotency import Outcome
from lorastudio.refusals import goes_back_to, refused

from . import captioning, exports, gaps, selectors, services
from .balance import balance_report
from .forms import CaptionRunForm, DatasetForm, ExportForm, GapForm, ReplaceForm
from .models import Dataset, DatasetExport, DatasetItem


def dataset_list(request):
    page = Paginator(selectors.datasets_for_list(), 50).get_page(request.GET.get("page"))
    return render(request, "datasets/dataset_list.html", {"page": page})


def character_datasets(request, slug):
    """A character's datasets, and the form that starts a new one."""
    character = get_object_or_404(Character, slug=slug)
    form = DatasetForm(
        request.POST or None, initial={"name": services.default_dataset_name(character)}
    )
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.create_dataset(
                character=character, created_by=request.user, **form.cleaned_data
            )
        except Refusal as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request, f"Dataset “{dataset.name}” made with {dataset.items.count()} images."
            )
            return redirect("datasets:detail", dataset_id=dataset.id)
    return render(
        request,
        "datasets/character_datasets.html",
        {
            "character": character,
            "datasets": selectors.datasets_of(character),
            "form": form,
            "starting": len(services.starting_images(character)),
            "uploads_waiting": selectors.uploads_awaiting_review(character).count(),
        },
    )


def _dataset(dataset_id) -> Dataset:
    return get_object_or_404(selectors.datasets(), id=dataset_id)


def _page_context(dataset: Dataset) -> dict:
    items = list(selectors.dataset_items(dataset))
    for item in items:
        item.dataset = dataset
        item.rendered = selectors.rendered_caption(dataset, item)
    warnings = selectors.caption_warnings(dataset, items)
    flagged = {w.item_id for w in warnings}
    for item in items:
        item.flagged = item.id in flagged
    return {
        "dataset": dataset,
        "character": dataset.character,
        "items": items,
        "uncaptioned": sum(1 for i in items if i.included and not i.caption.strip()),
        "report": balance_report(dataset, items),
        "caption_warnings": warnings,
        **_exports_context(dataset, items),
        "shot_types": ShotType.choices,
        "sources": ["anchor", "candidate", "variation", "upload", "reference"],
        "flags": [
            ("included", "Included"),
            ("excluded", "Excluded"),
            ("caption", "Caption to check"),
            ("warnings", "Photo warnings"),
        ],
        "providers": available_providers(),
        "default_provider": settings.PROVIDER,
        "missing_approved": selectors.approved_not_in(dataset).count(),
        "gaps_waiting": selectors.gaps_awaiting_review(dataset),
        "settings_form": DatasetForm(
            initial={"name": dataset.name, "caption_template": dataset.caption_template},
        ),
    }


def dataset_detail(request, dataset_id):
    dataset = _dataset(dataset_id)
    return render(request, "datasets/detail.html", _page_context(dataset))


@require_POST
@goes_back_to("datasets:detail", "dataset_id")
def dataset_settings(request, dataset_id):
    dataset = _dataset(dataset_id)
    form = DatasetForm(request.POST)
    if not form.is_valid():
        return refused(request, f"Not saved: {form.errors.as_text()}")
    services.update_dataset(
        dataset=dataset,
        name=form.cleaned_data["name"],
        caption_template=form.cleaned_data["caption_template"] or dataset.caption_template,
    )
    messages.success(request, "Saved: captions now follow the new template.")
    return redirect("datasets:detail", dataset_id=dataset.id)


@require_POST
def add_approved(request, dataset_id):
    """Add the character's approved images (and anchors) the dataset does not hold yet."""
    dataset = _dataset(dataset_id)
    ids = selectors.approved_ids_not_in(dataset)
    if not ids:
        messages.info(request, "Every approved image is already in this dataset.")
    else:
        added = services.add_images(dataset=dataset, image_ids=ids)
        messages.success(request, f"Added {added} approved image{'s' if added != 1 else ''}.")
    return redirect("datasets:detail", dataset_id=dataset.id)


@require_POST
@goes_back_to(lambda request, dataset_id: _report_url(dataset_id))
def exclude_outliers(request, dataset_id):
    """Exclude the items the identity check lists (all of them, or the one given)."""
    dataset = _dataset(dataset_id)
    ids = [int(i) for i in request.POST.getlist("item") if i.isdigit()]
    if not ids:
        return refused(request, "Choose the images to exclude.")
    excluded = services.exclude_items(dataset=dataset, item_ids=ids)
    messages.success(
        request,
        f"Excluded {excluded} image{'s' if excluded != 1 else ''} from the training set; "
        "tick Include on a tile to take one back.",
    )
    return redirect(_report_url(dataset.id))


def _report_url(dataset_id) -> str:
    return f"{reverse('datasets:detail', args=[dataset_id])}#report"


# --- Items (htmx) ------------------------------------------------------------------------
def _item(item_id) -> DatasetItem:
    return get_object_or_404(selectors.dataset_items_by_id(), id=item_id)


def _tile(request, item: DatasetItem, *, editing: bool = False):
    """The item's tile; after a change, the balance report and caption check ride along
    (an out-of-band swap), so the page never shows counts older than the tile."""
    dataset = item.dataset
    item.rendered = selectors.rendered_caption(dataset, item)
    item.flagged = any(w.item_id == item.id for w in selectors.caption_warnings(dataset, [item]))
    context = {
        "item": item,
        "dataset": dataset,
        "shot_types": ShotType.choices,
        "editing": editing,
    }
    html = render_to_string("datasets/detail.html#item", context, request)
    if not editing:
        html += _follow_ups(request, dataset)
    return HttpResponse(html)


def _follow_ups(request, dataset: Dataset) -> str:
    """What moves when items change, as out-of-band swaps: the header's counts, the balance
    report and its plan, the export's warnings."""
    page = {**_page_context(dataset), "oob": True}
    return "".join(
        render_to_string(f"datasets/detail.html#{name}", page, request)
        for name in ("counts", "report", "exports")
    )


def _items_changed(request, dataset: Dataset, items: list[DatasetItem], message: str):
    """After a bulk change: the changed tiles and the follow-ups (htmx), or back to the page."""
    if not request.htmx:
        messages.success(request, message)
        return redirect("datasets:detail", dataset_id=dataset.id)
    html = ""
    for item in selectors.dataset_items(dataset, ids=[i.id for i in items]):
        item.dataset = dataset
        item.rendered = selectors.rendered_caption(dataset, item)
        item.flagged = bool(selectors.caption_warnings(dataset, [item]))
        context = {"item": item, "dataset": dataset, "shot_types": ShotType.choices, "oob": True}
        html += render_to_string("datasets/detail.html#item", context, request)
    response = HttpResponse(html + _follow_ups(request, dataset))
    response["HX-Trigger"] = json.dumps({"notice": {"message": message}})
    return response


@require_POST
@goes_back_to("datasets:detail", "dataset_id")
def items_include(request, dataset_id):
    """Include or exclude many items at once (the images the filters show, or ticked)."""
    dataset = _dataset(dataset_id)
    ids = [i for i in request.POST.getlist("item_ids") if i.isdigit()]
    if not ids:
        return refused(request, "No images chosen: filter or tick some first.")
    included = request.POST.get("included") == "on"
    changed = services.set_included(dataset=dataset, item_ids=ids, included=included)
    word = "Included" if included else "Excluded"
    return _items_changed(
        request, dataset, changed, f"{word} {len(changed)} image{'s' if len(changed) != 1 else ''}."
    )


@require_POST
@goes_back_to(lambda request, dataset_id: _report_url(dataset_id))
def exclude_shots(request, dataset_id):
    """A balance plan's “exclude” step."""
    dataset = _dataset(dataset_id)
    count = request.POST.get("count", "")
    if not count.isdigit():
        return refused(request, "Say how many images to leave out.")
    changed = services.exclude_shots(
        dataset=dataset, shot=request.POST.get("shot", ""), count=int(count)
    )
    ids = ", ".join(f"#{i.image_id}" for i in changed)
    return _items_changed(
        request,
        dataset,
        changed,
        f"Left out {len(changed)} image{'s' if len(changed) != 1 else ''} ({ids}); tick "
        "“included” on any to take it back.",
    )


def item_tile(request, item_id):
    return _tile(request, _item(item_id), editing=request.GET.get("edit") == "1")


@require_POST
def item_caption(request, item_id):
    item = _item(item_id)
    caption = request.POST.get("caption", "")
    services.update_item(item=item, caption=caption)
    return _tile(request, item)


@require_POST
def item_include(request, item_id):
    item = _item(item_id)
    services.update_item(item=item, included=request.POST.get("included") == "on")
    return _tile(request, item)


@require_POST
def item_shot(request, item_id):
    item = _item(item_id)
    services.update_item(item=item, shot_type=request.POST.get("shot_type", ""))  # or refused
    return _tile(request, item)


# --- Find and replace --------------------------------------------------------------------
@require_POST
def find_replace(request, dataset_id):
    """Preview (how many captions change, before and after) or apply, as the button says."""
    dataset = _dataset(dataset_id)
    form = ReplaceForm(request.POST)
    context = {"dataset": dataset, "form": form}
    if form.is_valid():
        apply = request.POST.get("apply") == "yes"
        try:
            changes = services.find_and_replace(dataset=dataset, apply=apply, **form.cleaned_data)
        except Refusal as exc:
            context["error"] = exc.message
        else:
            context.update(
                changes=changes,
                applied=apply,
                occurrences=sum(c.occurrences for c in changes),
            )
    else:
        context["error"] = "Type the text to find (at most 200 characters)."
    response = render(request, "datasets/detail.html#replace-result", context)
    if context.get("applied"):
        response["HX-Refresh"] = "true"  # every tile may have changed
    return response


# --- Runs: captions and fill the gap, priced first ----------------------------------------
@require_http_methods(["GET", "POST"])
@goes_back_to("datasets:detail", "dataset_id")
def caption_run(request, dataset_id):
    """Price the caption run (a confirm page); launch it once, when the user confirms."""
    if started := confirm.already_started(request):
        return started
    dataset = _dataset(dataset_id)
    back = reverse("datasets:detail", kwargs={"dataset_id": dataset.id})
    form = CaptionRunForm(confirm.data(request))
    if not form.is_valid():
        return refused(request, f"Captioning cannot start: {form.errors.as_text()}")
    provider, overwrite = form.cleaned_data["provider"], form.cleaned_data["overwrite"]
    scope = form.cleaned_data["scope"]
    plan = captioning.plan_captions(
        dataset=dataset, provider=provider, overwrite=overwrite, scope=scope
    )
    if not confirm.confirmed(request):
        return confirm.page(
            request,
            "generation/run_confirm.html",
            {
                "character": dataset.character,
                "plan": plan,
                "form": form,
                "back": back,
                "action": reverse("datasets:caption_run", kwargs={"dataset_id": dataset.id}),
            },
        )

    def launch() -> Outcome:
        run = captioning.launch_captions(
            dataset=dataset, plan=plan, created_by=request.user, overwrite=overwrite, scope=scope
        )
        url = reverse("generation:run_detail", args=[run.id])
        return Outcome(label=f"Captioning run #{run.id}", url=url, value=run)

    spent = confirm.start_once(request, scope=f"captions {dataset.id}", start=launch)
    if not isinstance(spent, confirm.Spent):
        return spent
    run = spent.outcome.value
    messages.success(
        request,
        f"Captioning run #{run.id} started: {len(plan.calls)} images, about "
        f"${plan.estimated_cost:.2f}. Captions appear as each call finishes.",
    )
    return redirect(back)


@require_http_methods(["GET", "POST"])
@goes_back_to("datasets:detail", "dataset_id")
def fill_gap(request, dataset_id):
    """From a warning: show the priced gap run (anchor, source, prompt, strength) on a confirm
    page; launch it once per page when the user confirms."""
    if started := confirm.already_started(request):
        return started
    dataset = _dataset(dataset_id)
    back = reverse("datasets:detail", kwargs={"dataset_id": dataset.id})
    form = GapForm(confirm.data(request))
    if not form.is_valid():
        return refused(request, f"Cannot fill this gap: {form.errors.as_text()}")
    gap = gaps.plan_gap(dataset=dataset, **form.cleaned_data)
    if not confirm.confirmed(request):
        return confirm.page(
            request,
            "generation/run_confirm.html",
            {
                "character": dataset.character,
                "plan": gap.plan,
                "gap": gap,
                "hidden": list(form.cleaned_data.items()),
                "back": back,
                "action": reverse("datasets:fill_gap", kwargs={"dataset_id": dataset.id}),
            },
        )

    def launch() -> Outcome:
        run = gaps.launch_gap(gap=gap, created_by=request.user)
        url = reverse("generation:run_detail", args=[run.id])
        return Outcome(label=f"Run #{run.id}", url=url, value=run)

    spent = confirm.start_once(request, scope=f"gap {dataset.id}", start=launch)
    if not isinstance(spent, confirm.Spent):
        return spent
    run = spent.outcome.value
    messages.success(
        request,
        f"Run #{run.id} started: {gap.count} {gap.what}, about ${gap.plan.estimated_cost:.2f}. "
        "Review them in the gallery; approved ones can then be added here.",
    )
    return redirect(back)


# --- Exports -----------------------------------------------------------------------------
def _exports_url(dataset_id) -> str:
    return reverse("datasets:detail", kwargs={"dataset_id": dataset_id}) + "#exports"


@require_POST
@goes_back_to(lambda request, dataset_id: _exports_url(dataset_id))
def export_create(request, dataset_id):
    dataset = _dataset(dataset_id)
    form = ExportForm(request.POST)
    if not form.is_valid():
        return refused(request, f"Cannot export: {form.errors.as_text()}")
    export = exports.start_export(
        dataset=dataset,
        created_by=request.user,
        resolution=form.cleaned_data["resolution"],
        accept_warnings=form.cleaned_data["accept_warnings"],
    )
    if export.reused:
        messages.info(
            request,
            "Nothing changed since the last export at this resolution: it is listed "
            "below, no new zip is built.",
        )
    else:
        messages.success(
            request,
            f"Export of {export.image_count} images started: the zip is built in the "
            "background and listed below when ready.",
        )
    return redirect(_exports_url(dataset.id))


def export_list(request, dataset_id):
    """The exports table (htmx: polled while one is building)."""
    dataset = _dataset(dataset_id)
    return render(
        request, "datasets/detail.html#exports", {"dataset": dataset, **_exports_context(dataset)}
    )


def _exports_context(dataset: Dataset, items=None) -> dict:
    exports_ = list(selectors.exports_of(dataset))
    return {
        "export_warnings": selectors.export_warnings(dataset, items),
        "exports": exports_,
        "exports_building": any(e.status == DatasetExport.Status.BUILDING for e in exports_),
    }


def export_download(request, export_id):
    """A ready export's zip, through a fresh signed link."""
    export = get_object_or_404(selectors.ready_exports(), id=export_id)
    return redirect(export.archive.url)
