from decimal import Decimal

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from characters.selectors import characters
from lorastudio import confirm
from lorastudio.idempotency import Outcome
from lorastudio.refusals import goes_back_to, refused

from . import budgets, calls, runs, selectors, usage
from .forms import BudgetForm, DecisionForm, RunForm, UserBudgetForm
from .models import ProviderCall

DISMISSED = "dismissed_runs"  # session key: failed runs the user has seen and put away


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _run_summary(plan) -> str:
    return f"{_plural(len(plan.calls), 'call')}, {_plural(plan.images, 'image')}"


def run_list(request):
    page = Paginator(selectors.runs(), 50).get_page(request.GET.get("page"))
    return render(request, "generation/run_list.html", {"page": page})


def run_detail(request, run_id):
    run = get_object_or_404(selectors.runs(), id=run_id)
    groups = selectors.run_call_groups(run)
    by_status = selectors.calls_by_status(run)
    context = {
        "run": run,
        "groups": groups,
        "call_count": sum(len(g.calls) for g in groups),
        "image_count": sum(g.images for g in groups),
        "by_status": [
            (ProviderCall.Status(status).label, status, n) for status, n in by_status.items()
        ],
        "failed_count": by_status.get(ProviderCall.Status.FAILED, 0),
        "live": run.finished_at is None,
        "gallery_url": reverse("characters:gallery", args=[run.character.slug]) + f"?run={run.id}",
    }
    if request.htmx:
        response = render(request, "generation/run_detail.html#run-progress", context)
        if request.GET.get("live") and run.finished_at:
            response["HX-Refresh"] = "true"  # it ended: the page head loses its Cancel
        return response
    return render(request, "generation/run_detail.html", context)


@require_POST
@goes_back_to("generation:run_detail", "run_id")
def run_cancel(request, run_id):
    run = get_object_or_404(selectors.runs(), id=run_id)
    runs.cancel_run(run, by=request.user)
    messages.success(request, "Run canceled: queued calls will not be sent.")
    return redirect("generation:run_detail", run_id=run.id)


@require_POST
def call_retry(request, call_id):
    call = get_object_or_404(selectors.calls(), id=call_id)
    calls.retry_unknown(call.id, by=request.user)  # a call whose outcome is known is refused there
    messages.warning(
        request, "Sent again. If the first request did reach the provider, it is paid twice."
    )
    return redirect("generation:run_detail", run_id=call.run_id)


@require_http_methods(["GET", "POST"])
@goes_back_to("characters:detail", "slug")
def run_new(request, slug):
    """Show what a run will cost (a confirm page); launch it once, when the user confirms."""
    if started := confirm.already_started(request):
        return started
    character = get_object_or_404(characters(), slug=slug)
    data = confirm.data(request)
    form = RunForm(data, character=character)
    back = data.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = character.get_absolute_url()
    if not form.is_valid():
        return refused(request, f"This run cannot start: {form.error_text()}")
    arguments = form.plan_arguments()
    plan = runs.plan_run(character=character, **arguments)
    request.session["provider"] = plan.provider  # preselected next time
    if not confirm.confirmed(request):
        hidden = [
            (name, value)
            for name, values in form.data.lists()
            if name not in ("csrfmiddlewaretoken", "confirm", "next", confirm.TOKEN)
            for value in values
        ]
        return confirm.page(
            request,
            "generation/run_confirm.html",
            {
                "character": character,
                "plan": plan,
                "summary": _run_summary(plan),
                "action": reverse("generation:run_new", args=[character.slug]),
                "hidden": hidden,
                "back": back,
            },
        )

    def launch() -> Outcome:
        run = runs.launch_run(
            plan=plan,
            character=character,
            created_by=request.user,
            params={k: v for k, v in arguments.items() if v is not None},
        )
        return Outcome(label=f"Run #{run.id}", url=_run_url(run), value=run)

    spent = confirm.start_once(request, scope="run", start=launch)
    if not isinstance(spent, confirm.Spent):
        return spent
    messages.success(
        request,
        f"{spent.outcome.label} started: {_run_summary(plan)}, about ${plan.estimated_cost:.2f}.",
    )
    return redirect(back)


def _run_url(run) -> str:
    return reverse("generation:run_detail", args=[run.id])


@require_http_methods(["GET", "POST"])
@goes_back_to("generation:run_detail", "run_id")
def run_retry(request, run_id):
    """Send a run's failed calls again as a new run: priced first, launched once confirmed."""
    if started := confirm.already_started(request):
        return started
    run = get_object_or_404(selectors.runs(), id=run_id)
    back = reverse("generation:run_detail", args=[run.id])
    plan = runs.plan_retry(run=run)
    if not confirm.confirmed(request):
        return confirm.page(
            request,
            "generation/run_confirm.html",
            {
                "character": run.character,
                "plan": plan,
                "summary": _run_summary(plan),
                "action": reverse("generation:run_retry", args=[run.id]),
                "hidden": [],
                "back": back,
                "retry_of": run,
            },
        )

    def launch() -> Outcome:
        retry = runs.launch_run(
            plan=plan,
            character=run.character,
            created_by=request.user,
            params={"retry_of": run.id, **{k: v for k, v in run.params.items() if k != "retry_of"}},
        )
        return Outcome(label=f"Run #{retry.id}", url=_run_url(retry), value=retry)

    spent = confirm.start_once(request, scope=f"retry {run.id}", start=launch)
    if not isinstance(spent, confirm.Spent):
        return spent
    retry = spent.outcome.value
    _dismiss(request, run.id)
    messages.success(
        request,
        f"Run #{retry.id} sends the failed calls of run #{run.id} again: "
        f"{_run_summary(plan)}, about ${plan.estimated_cost:.2f}.",
    )
    return redirect("generation:run_detail", run_id=retry.id)


def _dismiss(request, run_id: int) -> None:
    request.session[DISMISSED] = sorted({*request.session.get(DISMISSED, []), run_id})[-50:]


@require_POST
def run_dismiss(request, run_id):
    """Put away a failed run's notice on the character's pages (the run page keeps it)."""
    run = get_object_or_404(selectors.runs(), id=run_id)
    _dismiss(request, run.id)
    if request.htmx:
        return character_progress(request, run.character.slug)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = run.character.get_absolute_url()
    return redirect(back)


def character_progress(request, slug):
    """The character's running runs; asks the page to reload when one of them has finished."""
    character = get_object_or_404(characters(), slug=slug)
    active = selectors.active_runs(character)
    failures = list(
        selectors.recent_failures(character, dismissed=request.session.get(DISMISSED, []))
    )
    for run in failures:
        run.first_error = selectors.first_error(run)
    watched = {int(i) for i in request.GET.get("watching", "").split(",") if i.isdigit()}
    response = render(
        request,
        "generation/_progress.html",
        {"character": character, "active": active, "failures": failures},
    )
    if watched - {run.id for run in active}:
        response["HX-Refresh"] = "true"  # a run finished: show its images
    return response


# --- Approval, budget and usage ----------------------------------------------------------
@require_POST
@goes_back_to("generation:run_detail", "run_id")
def run_approval(request, run_id):
    """A lead approves a held run (its calls are sent) or declines it with a reason."""
    run = get_object_or_404(selectors.runs(), id=run_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return refused(request, "Choose approve or decline.")
    approve = form.cleaned_data["decision"] == "approve"
    runs.decide_run(run=run, by=request.user, approve=approve, reason=form.cleaned_data["reason"])
    messages.success(
        request, f"Run #{run.id} {'approved: its calls are being sent' if approve else 'declined'}."
    )
    return redirect("generation:run_detail", run_id=run.id)


@goes_back_to("generation:budget")
def budget(request):
    """The month's budget: limits (leads change them), spent, reserved, left, per login."""
    state = selectors.budget_state()
    room = state.room
    form = BudgetForm(
        request.POST or None,
        initial={
            name: _cents(getattr(room, name))
            for name in ("monthly_limit", "per_run_cap", "approval_threshold")
        },
    )
    if request.method == "POST":
        if "username" in request.POST:
            user_form = UserBudgetForm(request.POST)
            if not user_form.is_valid():
                return refused(request, "A monthly limit is an amount of dollars, 0 or more.")
            data = user_form.cleaned_data
            budgets.set_budget(by=request.user, users={data["username"]: data["monthly_limit"]})
            messages.success(request, f"Monthly limit of {data['username']} saved.")
            return redirect("generation:budget")
        if form.is_valid():
            budgets.set_budget(by=request.user, **form.cleaned_data)
            messages.success(request, "Budget saved.")
            return redirect("generation:budget")
    return render(
        request,
        "generation/budget.html",
        {"state": state, "form": form, "held": selectors.held_runs()},
    )


def _cents(value):
    return value.quantize(Decimal("0.01")) if value is not None else None


@goes_back_to("generation:usage")
def usage_page(request):
    """Spending by month, user, character and provider, with a chart of the last months."""
    try:
        report = usage.usage_for(usage.parse_month(request.GET.get("month")))
    except usage.BadMonth as exc:
        return refused(request, str(exc))
    return render(
        request,
        "generation/usage.html",
        {
            "usage": report,
            "bars": usage.chart_bars(report.months),
            "state": selectors.budget_state(),
        },
    )
