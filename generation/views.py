from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import calls, runs
from .models import GenerationRun, ProviderCall


def run_list(request):
    runs_ = GenerationRun.objects.select_related("character", "created_by").order_by("-created_at")
    page = Paginator(runs_, 50).get_page(request.GET.get("page"))
    return render(request, "generation/run_list.html", {"page": page})


def run_detail(request, run_id):
    run = get_object_or_404(
        GenerationRun.objects.select_related("character", "created_by"), id=run_id
    )
    context = {
        "run": run,
        "calls": run.calls.annotate(image_count=Count("images")).order_by("created_at"),
        "by_status": dict(run.calls.values_list("status").annotate(n=Count("id"))),
        "live": run.finished_at is None,
    }
    template = "generation/run_detail.html"
    if request.htmx:
        template += "#run-progress"
    return render(request, template, context)


@require_POST
def run_cancel(request, run_id):
    run = get_object_or_404(GenerationRun, id=run_id)
    try:
        runs.cancel_run(run)
    except runs.RunRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Run canceled: queued calls will not be sent.")
    return redirect("generation:run_detail", run_id=run.id)


@require_POST
def call_retry(request, call_id):
    call = get_object_or_404(ProviderCall, id=call_id)
    if call.status != ProviderCall.Status.UNKNOWN:
        messages.error(request, "Only a call whose outcome is unknown can be sent again.")
    else:
        calls.retry_unknown(call.id)
        messages.warning(
            request, "Sent again. If the first request did reach the provider, it is paid twice."
        )
    return redirect("generation:run_detail", run_id=call.run_id)
