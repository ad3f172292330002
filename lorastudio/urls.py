from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from generation import webhooks

from . import media, views
from .api import api

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("media/<path:path>", media.serve_media, name="media"),
    path("account/api-tokens/", views.api_tokens, name="api_tokens"),
    path(
        "account/api-tokens/<int:token_id>/revoke/",
        views.api_token_revoke,
        name="api_token_revoke",
    ),
    path("admin/", admin.site.urls),
    path("webhooks/fal", webhooks.fal_webhook, name="webhook-fal"),
    path("webhooks/replicate", webhooks.replicate_webhook, name="webhook-replicate"),
    path("api/", api.urls),
    path("characters/", include("characters.urls")),
    path("runs/", include("generation.urls")),
    path("datasets/", include("datasets.urls")),
    path("training/", include("training.urls")),
]
