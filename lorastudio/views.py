from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .health import check_health


def home(request):
    return redirect("characters:list")


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """Database and Redis reachability, plus when the worker and beat were last seen."""
    report = check_health()
    return JsonResponse(report, status=200 if report["ok"] else 503)
