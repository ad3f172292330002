from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from characters.selectors import characters

from . import calls, runs, selectors
from .forms import RunForm
from .models import ProviderCall


def run_list(request):
    page = Paginator(selectors.runs(), 50).get_page(request.GET.get("page"))
    return render(request, "generation/run_list.html", {"page": page})


def run_detail(request, run_id):
    run = get_object_or_404(selectors.runs(), id=run_id)
    context = {
        "run": run,
        "calls": selectors.run_calls(run),
        "by_status": selectors.calls_by_status(run),
        "live": run.finished_at is None,
    }
    template = "generation/run_detail.html"
    if request.htmx:
        template += "#run-progress"
    return render(request, template, context)


@require_POST
def run_cancel(request, run_id):
    run = get_object_or_404(selectors.runs(), id=run_id)
    try:
        runs.cancel_run(run)
    except runs.RunRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Run canceled: queued calls will not be sent.")
    return redirect("generation:run_detail", run_id=run.id)


@require_POST
def call_retry(request, call_id):
    call = get_object_or_404(selectors.calls(), id=call_id)
    if call.status != ProviderCall.Status.UNKNOWN:
        messages.error(request, "Only a call whose outcome is unknown can be sent again.")
    else:
        calls.retry_unknown(call.id)
        messages.warning(
            request, "Sent again. If the first request did reach the provider, it is paid twice."
        )
    return redirect("generation:run_detail", run_id=call.run_id)


@require_POST
def run_new(request, slug):
    """Show what a run will cost; launch it only once the user confirms."""
    character = get_object_or_404(characters(), slug=slug)
    form = RunForm(request.POST, character=character)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = character.get_absolute_url()
    if not form.is_valid():
        messages.error(request, f"This run cannot start: {form.errors.as_text()}")
        return redirect(back)
    arguments = form.plan_arguments()
    try:
        plan = runs.plan_run(character=character, **arguments)
    except runs.RunRefused as exc:
        messages.error(request, str(exc))
        return redirect(back)
    if request.POST.get("confirm") != "yes":
        return render(
            request,
            "generation/run_confirm.html",
            {"character": character, "plan": plan, "form": form, "back": back},
        )
    run = runs.launch_run(
        plan=plan,
        character=character,
        created_by=request.user,
        params={k: v for k, v in arguments.items() if v is not None},
    )
    messages.success(
        request,
        f"Run #{run.id} started: {len(plan.calls)} calls, {plan.images} images, "
        f"about ${plan.estimated_cost:.2f}.",
    )
    return redirect(back)


def character_progress(request, slug):
    """The character's running runs; asks the page to reload when one of them has finished."""
    character = get_object_or_404(characters(), slug=slug)
    active = selectors.active_runs(character)
    watched = {int(i) for i in request.GET.get("watching", "").split(",") if i.isdigit()}
    response = render(
        request, "generation/_progress.html", {"character": character, "active": active}
    )
    if watched - {run.id for run in active}:
        response["HX-Refresh"] = "true"  # a run finished: show its images
    return response
