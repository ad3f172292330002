from django.urls import path

from . import views

app_name = "characters"
urlpatterns = [
    path("", views.character_list, name="list"),
    path("new/", views.character_create, name="create"),
    path("<slug:slug>/", views.character_detail, name="detail"),
    path("<slug:slug>/edit/", views.character_edit, name="edit"),
    path("<slug:slug>/variations/new/", views.variation_edit, name="variation_create"),
    path("<slug:slug>/variations/<slug:key>/", views.variation_edit, name="variation_edit"),
]
