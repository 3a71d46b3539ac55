"""The Tokens page: a signed-in user creates, lists and revokes their API tokens; an admin
(`accounts.manage_tokens`) sees and revokes everyone's. Plain forms (POST + redirect)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts import selectors, services
from apps.accounts.forms import TokenCreateForm, TokenRevokeForm

NEW_TOKEN_SESSION_KEY = "new_api_token"


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """List the visible tokens; POST creates one. The new key is kept in the session only
    until the next page shows it once (so a reload never creates a second token)."""
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key = services.api_token_create(
            user=request.user, name=form.cleaned_data["name"], expires_days=form.cleaned_data["expires_days"]
        )
        request.session[NEW_TOKEN_SESSION_KEY] = {"key": key, "name": form.cleaned_data["name"]}
        return redirect("accounts:tokens")
    context = {
        "form": form,
        "tokens": selectors.api_tokens_visible(user=request.user),
        "all_users": request.user.has_perm(selectors.MANAGE_TOKENS),
        "new_token": request.session.pop(NEW_TOKEN_SESSION_KEY, None) if request.method == "GET" else None,
        "now": timezone.now(),
    }
    return render(request, "accounts/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def tokens_revoke(request: HttpRequest) -> HttpResponse:
    form = TokenRevokeForm(request.POST)
    token = (
        selectors.api_tokens_visible(user=request.user).filter(pk=form.cleaned_data["token"]).first()
        if form.is_valid()
        else None
    )
    if token is None:
        messages.error(request, "No such token among yours.")
    elif services.api_token_revoke(token=token):
        messages.success(
            request,
            f"Revoked “{token.name or token.prefix}” ({token.prefix}…): the API refuses it within "
            f"{services.TOKEN_CACHE_S:g} s (each server process keeps a token it has seen for that long).",
        )
    else:
        messages.info(request, f"“{token.name or token.prefix}” was already revoked.")
    return redirect("accounts:tokens")
