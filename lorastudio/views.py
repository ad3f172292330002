from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import tokens
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


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="What it is for",
        widget=forms.TextInput({"placeholder": "video pipeline"}),
    )


NEW_TOKEN = "new_api_token"  # session key: a key just made, shown on the next page once


@never_cache
def api_tokens(request):
    """The user's own API tokens: create one (its key is shown once), revoke one. Creating
    redirects (so a reload makes no second token); the key rides in the server-side session
    to that one page view and is dropped there."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _, key = tokens.issue_api_token(user=request.user, name=form.cleaned_data["name"])
        request.session[NEW_TOKEN] = key
        return redirect("api_tokens")
    key = request.session.pop(NEW_TOKEN, None)
    context = {"form": form, "key": key, "tokens": tokens.tokens_of(request.user)}
    return render(request, "account/api_tokens.html", context)


@require_POST
def api_token_revoke(request, token_id):
    token = get_object_or_404(tokens.tokens_of(request.user), id=token_id)
    tokens.revoke_api_token(token=token)
    messages.success(request, f"“{token.name}” revoked: it no longer opens the API.")
    return redirect("api_tokens")
