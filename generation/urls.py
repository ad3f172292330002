from django.urls import path

from . import views

app_name = "generation"
urlpatterns = [
    path("", views.run_list, name="run_list"),
    path("<int:run_id>/", views.run_detail, name="run_detail"),
    path("<int:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("<int:run_id>/retry/", views.run_retry, name="run_retry"),
    path("<int:run_id>/dismiss/", views.run_dismiss, name="run_dismiss"),
    path("calls/<uuid:call_id>/retry/", views.call_retry, name="call_retry"),
    path("new/<slug:slug>/", views.run_new, name="run_new"),
    path("progress/<slug:slug>/", views.character_progress, name="progress"),
    path("<int:run_id>/approval/", views.run_approval, name="run_approval"),
    path("budget/", views.budget, name="budget"),
    path("usage/", views.usage_page, name="usage"),
]
