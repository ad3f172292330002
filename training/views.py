"""Training pages: launch with defaults and a price, follow a job live, LoRA versions with their
reference sets, comparison, pins, webhooks and notifications. Thin: services do the work."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from characters.models import Character
from characters.selectors import character_sheet
from datasets.selectors import ready_exports
from lorastudio import confirm
from lorastudio.errors import Refusal
from lorastudio.idempotency import Outcome
from lorastudio.refusals import goes_back_to, refused

from . import (
    defaults,
    likeness,
    loras,
    notifications,
    outgoing,
    pins,
    reference_sets,
    selectors,
    services,
)
from .forms import (
    ROLE_CHOICES,
    ReferenceSetForm,
    SavePresetForm,
    TrainingForm,
    WebhookEndpointForm,
    lora_choices,
)
from .models import LoraModel, TrainingJob, WebhookDelivery, WebhookEndpoint


def job_list(request):
    page = Paginator(selectors.jobs_list(), 50).get_page(request.GET.get("page"))
    return render(request, "training/job_list.html", {"page": page})


def _initial(request) -> dict:
    """The form's first values: a past job's exact settings ("train again"), or an export."""
    if job_id := request.GET.get("from_job"):
        job = get_object_or_404(TrainingJob, id=job_id)
        return services.retrain_settings(job)
    initial = {}
    if export_id := request.GET.get("export"):
        initial["export"] = export_id
    initial["provider"] = request.GET.get("provider", "local")
    return initial


def job_new(request):
    """Choose the export and settings; the cost and time show before anything starts. The
    page is its own confirm page: its address carries a one-time token, so coming back to it
    after Start leads to the training it started."""
    if not request.htmx and (started := confirm.already_started(request)):
        return started
    if tokened := confirm.with_token(request):
        return tokened
    if request.method == "POST":
        form = bound = TrainingForm(request.POST)
    else:
        form = TrainingForm(initial=_initial(request))
        bound = TrainingForm(_bound_data(form))
    plan, problem = None, ""
    if bound.is_valid():
        try:
            plan = services.plan_training(**bound.plan_arguments())
        except Refusal as exc:
            problem = exc.message
    elif request.method == "POST":
        problem = "Check the settings: " + "; ".join(
            f"{name.replace('_', ' ')}: {' '.join(errors)}" for name, errors in bound.errors.items()
        )
    if request.method == "POST" and request.POST.get("action") == "launch" and plan is not None:
        return _launch(request, plan)
    if plan is not None:
        for name, value in plan.params.as_dict().items():
            form.fields[name].widget.attrs["placeholder"] = f"{plan.preset}: {value}"
    context = {
        "form": form,
        "once": confirm.token(request),
        "plan": plan,
        "problem": problem,
        "presets": defaults.presets(),
        "has_exports": ready_exports().exists(),
    }
    template = "training/job_new.html"
    if request.htmx:
        template += "#estimate"
    return confirm.no_store(render(request, template, context))


def _launch(request, plan):
    """Start the training once per page token (a page without one gets one first)."""
    if not confirm.token(request):
        messages.error(request, "This form had expired: check the estimate and start again.")
        return redirect(reverse("training:job_new") + f"?export={plan.export.id}")

    def launch() -> Outcome:
        job = services.launch_training(plan=plan, created_by=request.user)
        return Outcome(label=f"Training #{job.id}", url=job.get_absolute_url(), value=job)

    spent = confirm.start_once(request, scope="training", start=launch)
    if isinstance(spent, confirm.Spent):
        job = spent.outcome.value
        messages.success(
            request,
            f"Training #{job.id} started on {job.get_provider_display()}: about "
            f"${job.estimated_cost:.2f}.",
        )
        url = job.get_absolute_url()
    else:
        url = spent["Location"]
    # The form posts through htmx: have the browser go to the job, not swap it in.
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _bound_data(form: TrainingForm) -> dict:
    """An unbound form is estimated from its initial values (or the newest ready export)."""
    data = {name: form.initial.get(name, "") for name in form.fields}
    if not data["export"]:
        first = form.fields["export"].queryset.first()
        data["export"] = str(first.id) if first else ""
    data["provider"] = data.get("provider") or "local"
    return {k: ("" if v is None else v) for k, v in data.items()}


def job_detail(request, job_id):
    services.sync_job(job_id)
    try:
        job = selectors.job_detail(job_id)
    except TrainingJob.DoesNotExist:
        raise Http404("No such training job.") from None
    context = {
        "job": job,
        "lineage": selectors.lineage_of_job(job),
        "samples": selectors.sample_rows(job),
        "shots": [selectors.shot_label(shot) for shot in selectors.SHOTS],
        "loss": selectors.loss_curve_of(job),
    }
    if request.htmx:
        response = render(request, "training/job_detail.html#job-progress", context)
        if request.GET.get("live") and not job.is_live:
            response["HX-Refresh"] = "true"  # it ended: show the LoRA and the lineage
        return response
    return render(request, "training/job_detail.html", context)


@require_POST
@goes_back_to("training:job_detail", "job_id")
def job_cancel(request, job_id):
    job = get_object_or_404(TrainingJob, id=job_id)
    services.cancel_training(job=job)
    messages.success(request, "Training canceled: nothing more is billed for it.")
    return redirect(job)


@require_POST
@goes_back_to("training:job_detail", "job_id")
def job_retry(request, job_id):
    job = get_object_or_404(TrainingJob, id=job_id)
    services.retry_unknown_training(job=job)
    messages.warning(
        request, "Sent again. If the first request did reach the provider, it is paid twice."
    )
    return redirect(job)


@require_POST
@goes_back_to("training:job_new")
def preset_save(request):
    form = SavePresetForm(request.POST)
    if not form.is_valid():
        return refused(request, "Fill in a name and every setting to save a preset.")
    data = form.cleaned_data
    preset = services.save_preset(
        name=data["name"],
        params=defaults.Params(
            steps=data["steps"],
            learning_rate=data["learning_rate"],
            rank=data["rank"],
            resolution=data["resolution"],
            batch_size=data["batch_size"],
        ),
        created_by=request.user,
    )
    messages.success(request, f"Preset “{preset.name}” saved for everyone here.")
    return redirect(request.POST.get("next") or reverse("training:job_new"))


# --- LoRA versions -------------------------------------------------------------------------
def lora_detail(request, lora_id):
    lora = get_object_or_404(selectors.loras(), id=lora_id)
    context = {
        "lora": lora,
        "character": lora.character,
        "lineage": selectors.lineage_of_lora(lora),
        "sets": selectors.reference_sets(lora),
        "form": ReferenceSetForm(
            initial={
                "provider": lora.training_job.provider if lora.training_job else "local",
                "scale": 1,
            }
        ),
    }
    return render(request, "training/lora_detail.html", context)


@require_http_methods(["GET", "POST"])
@goes_back_to("training:lora_detail", "lora_id")
def reference_set(request, lora_id):
    """Price the reference set (or one shot of it), a confirm page; start it once, when the
    user confirms."""
    if started := confirm.already_started(request):
        return started
    lora = get_object_or_404(selectors.loras(), id=lora_id)
    form = ReferenceSetForm(confirm.data(request))
    if not form.is_valid():
        return refused(request, "Choose a provider and a LoRA scale from 0 to 2.")
    provider, scale = form.cleaned_data["provider"], float(form.cleaned_data["scale"])
    shots = form.cleaned_data["shots"]
    plan = reference_sets.plan(lora=lora, provider=provider, scale=scale, shots=shots)
    if not confirm.confirmed(request):
        return confirm.page(
            request,
            "training/reference_confirm.html",
            {"lora": lora, "plan": plan, "form": form, "shots": shots},
        )

    def launch() -> Outcome:
        run = reference_sets.launch(
            lora=lora, plan=plan, scale=scale, shots=shots, created_by=request.user
        )
        url = reverse("generation:run_detail", args=[run.id])
        return Outcome(label=f"Reference set run #{run.id}", url=url, value=run)

    spent = confirm.start_once(request, scope=f"reference set {lora.id}", start=launch)
    if not isinstance(spent, confirm.Spent):
        return spent
    run = spent.outcome.value
    messages.success(
        request,
        f"Reference set run #{run.id} started: {len(plan.calls)} shots, about "
        f"${plan.estimated_cost:.2f}.",
    )
    return redirect(lora)


@require_POST
@goes_back_to("training:lora_detail", "lora_id")
def lora_approve(request, lora_id):
    lora = get_object_or_404(LoraModel, id=lora_id)
    loras.approve_lora(lora=lora, user=request.user)
    messages.success(request, f"v{lora.version} approved: it can be pinned now.")
    return redirect(request.POST.get("next") or lora.get_absolute_url())


@require_POST
@goes_back_to("training:lora_detail", "lora_id")
def lora_retire(request, lora_id):
    lora = get_object_or_404(LoraModel, id=lora_id)
    loras.retire_lora(lora=lora)
    messages.success(request, f"v{lora.version} retired. Pins made with it keep it.")
    return redirect(request.POST.get("next") or lora.get_absolute_url())


# --- A character's training, comparison and pins -------------------------------------------
def character_training(request, slug):
    character = get_object_or_404(Character, slug=slug)
    context = {
        "character": character,
        "jobs": selectors.jobs_list(character=character)[:20],
        "loras": selectors.loras_of(character),
        "judged": selectors.loras_with_reference_images(character),  # these may be approved
        "pin": pins.current_pin(character),
        "exports": ready_exports(character=character)[:10],
    }
    return render(request, "training/character.html", context)


def compare(request, slug):
    """Each version's prompt-and-seed suite side by side (arrow keys flip between them)."""
    character = get_object_or_404(Character, slug=slug)
    columns = selectors.comparison(character)
    ranking = likeness.rank_columns(columns)  # and each image's likeness, for under it
    rows = [
        (selectors.shot_label(shot), [column.shots.get(shot) for column in columns])
        for shot in selectors.SHOTS
    ]
    context = {
        "character": character,
        "columns": columns,
        "rows": rows,
        "ranking": ranking,
        "differ": selectors.settings_that_differ(columns),
        "sheet": [(pose, image) for pose, image in character_sheet(character) if image],
    }
    return render(request, "training/compare.html", context)


def drift_message(drift) -> str:
    what = "looks like another person than" if drift.flag == "other_person" else "drifts from"
    return (
        f"Reference #{drift.image_id} ({drift.role.lower()}) {what} the primary image "
        f"({drift.measure} distance {drift.distance:.2f}): downstream pipelines will mix them. "
        "Choose another reference, or keep it on purpose."
    )


def _drifts_of_choice(character, primary_id, roles: dict[int, str]) -> list[str]:
    """The likeness warning of a primary and references being chosen: {image id: role}."""
    if primary_id is None:
        return []
    labels = dict(ROLE_CHOICES)
    drifts = likeness.drift_from_primary(
        character_id=character.id,
        primary_image_id=primary_id,
        references=[(image_id, labels.get(role, role)) for image_id, role in roles.items()],
    )
    return [drift_message(d) for d in drifts]


@require_GET
def pin_drift(request, slug):
    """The pin form's likeness warning, again as the user changes the primary or the
    references (htmx), before anything is saved."""
    character = get_object_or_404(Character, slug=slug)
    primary = request.GET.get("primary", "")
    refs = [int(i) for i in request.GET.getlist("references") if i.isdigit()]
    drifts = _drifts_of_choice(
        character,
        int(primary) if primary.isdigit() else None,
        {i: request.GET.get(f"role_{i}", "") for i in refs},
    )
    return render(request, "training/_pin_drift.html", {"drifts": drifts})


@goes_back_to("training:pin_edit", "slug")
def pin_edit(request, slug):
    character = get_object_or_404(Character, slug=slug)
    current = pins.current_pin(character)
    if request.method == "POST":
        refs = [int(i) for i in request.POST.getlist("references") if i.isdigit()]
        # The page lists images newest first: order the references by role instead.
        order = {role: n for n, (role, _) in enumerate(ROLE_CHOICES)}
        refs.sort(key=lambda i: order.get(request.POST.get(f"role_{i}", ""), len(order)))
        primary = request.POST.get("primary", "")
        lora_id = request.POST.get("lora") or None
        if not primary.isdigit():
            return refused(request, "Choose the primary image (the frontal one).")
        pin, created = pins.pin_character(
            character=character,
            primary_image_id=int(primary),
            reference_image_ids=refs,
            roles={str(i): request.POST.get(f"role_{i}", "") for i in refs},
            lora_id=int(lora_id) if lora_id else None,
            lora_scale=request.POST.get("scale") or "1",
            note=request.POST.get("note", ""),
            pinned_by=request.user,
        )
        if created:
            messages.success(request, f"Pinned {character.name} as version {pin.version}.")
            for drift in likeness.pin_drift(pin):
                messages.warning(request, drift_message(drift))
        else:
            messages.info(request, f"Nothing changed: version {pin.version} stays current.")
        return redirect(pin)
    lora = selectors.approved_lora(character, request.GET.get("lora", ""))
    suite = selectors.pin_suite(lora) if lora else {}
    primary_id, lora_id, chosen_refs = None, None, {}
    if suite:  # "Pin with vN": that version, its reference set, frontal as primary
        primary, chosen_refs = selectors.pin_preselection(suite)
        primary_id, lora_id = primary.id, lora.id
    elif lora:
        lora_id = lora.id
    elif current:
        primary_id, lora_id = current.primary_image_id, current.lora_id
        chosen_refs = {r.image_id: r.role for r in current.references.all()}
    order = {role: n for n, (role, _) in enumerate(ROLE_CHOICES)}
    sources = selectors.pin_candidates(character, suite=suite)
    suggested = pins.suggested_roles(image for source in sources for image in source.images)
    for source in sources:
        with_roles = [(image, suggested[image.id]) for image in source.images]
        source.images = sorted(with_roles, key=lambda pair: order.get(pair[1], len(order)))
    context = {
        "character": character,
        "current": current,
        "lora": lora,
        "sources": sources,
        "primary_id": primary_id,
        "lora_id": str(lora_id or ""),
        "chosen_refs": chosen_refs,
        "drifts": _drifts_of_choice(character, primary_id, chosen_refs),
        "roles": ROLE_CHOICES,
        "loras": lora_choices(character),
        "history": selectors.pins_of(character)[:20],
    }
    return render(request, "training/pin_edit.html", context)


def pin_detail(request, slug, version):
    character = get_object_or_404(Character, slug=slug)
    try:
        pin = selectors.pin_version(character, version)
    except Exception:
        raise Http404("No such pin version.") from None
    current = pins.current_pin(character)
    context = {
        "character": character,
        "pin": pin,
        "is_current": current is not None and current.version == pin.version,
        "lineage": selectors.lineage_of_pin(pin),
        "history": selectors.pins_of(character)[:20],
        "api_path": reverse("api-1:get_pin", kwargs={"slug": slug}),
        "drifts": [drift_message(d) for d in likeness.pin_drift(pin)],
    }
    return render(request, "training/pin_detail.html", context)


def pin_pack(request, slug, version):
    """The character pack of a pin version, through a signed link."""
    character = get_object_or_404(Character, slug=slug)
    pin = get_object_or_404(character.pins, version=version)
    if pin.pack_status == pin.PackStatus.READY:
        return redirect(pin.pack.url)
    if pin.pack_status == pin.PackStatus.FAILED and request.method == "POST":
        pins.rebuild_pack(pin=pin)
        messages.info(request, "The character pack is being built again.")
    elif pin.pack_status == pin.PackStatus.BUILDING:
        messages.info(request, "The character pack is still being built: its link shows here.")
    return redirect(pin)


# --- Webhooks and notifications ------------------------------------------------------------
def webhooks(request):
    created = None
    if request.method == "POST":
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                created = outgoing.create_endpoint(
                    url=form.cleaned_data["url"],
                    events=form.cleaned_data["events"],
                    description=form.cleaned_data["description"],
                    created_by=request.user,
                )
            except Refusal as exc:
                form.add_error("url", exc.message)
            else:
                messages.success(request, "Endpoint added. Copy its secret now to verify events.")
                form = WebhookEndpointForm()
    else:
        form = WebhookEndpointForm()
    context = {
        "form": form,
        "created": created,
        "endpoints": selectors.endpoints_with_latest_deliveries(),
        "deliveries": selectors.recent_deliveries(),
    }
    return render(request, "training/webhooks.html", context)


@require_POST
def webhook_delete(request, endpoint_id):
    outgoing.delete_endpoint(endpoint=get_object_or_404(WebhookEndpoint, id=endpoint_id))
    messages.success(request, "Endpoint removed: it receives nothing more.")
    return redirect("training:webhooks")


@require_POST
def webhook_redeliver(request, delivery_id):
    outgoing.redeliver(delivery=get_object_or_404(WebhookDelivery, id=delivery_id))
    messages.success(request, "Sent again; the log shows how it went.")
    return redirect("training:webhooks")


def notification_list(request):
    items = list(request.user.notifications.all()[:50])
    notifications.mark_all_read(user=request.user)
    return render(request, "training/notifications.html", {"items": items})
