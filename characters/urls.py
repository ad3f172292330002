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
    path("<slug:slug>/anchors/", views.anchor_board, name="anchors"),
    path("<slug:slug>/anchors/<slug:pose>/", views.anchor_pick, name="anchor_pick"),
    path("<slug:slug>/gallery/", views.gallery, name="gallery"),
    path("<slug:slug>/gallery/counts/", views.curation_counts, name="curation_counts"),
    path("<slug:slug>/images/<int:image_id>/review/", views.image_review, name="image_review"),
    path("<slug:slug>/images/bulk-review/", views.bulk_review, name="bulk_review"),
    path("<slug:slug>/suggest-anchor/", views.suggest_anchor, name="suggest_anchor"),
]
