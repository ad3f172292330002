from django.urls import path

from . import views

app_name = "datasets"
urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("for/<slug:slug>/", views.character_datasets, name="character"),
    path("<int:dataset_id>/", views.dataset_detail, name="detail"),
    path("<int:dataset_id>/settings/", views.dataset_settings, name="settings"),
    path("<int:dataset_id>/add-approved/", views.add_approved, name="add_approved"),
    path("<int:dataset_id>/replace/", views.find_replace, name="replace"),
    path("<int:dataset_id>/captions/", views.caption_run, name="caption_run"),
    path("<int:dataset_id>/fill-gap/", views.fill_gap, name="fill_gap"),
    path("<int:dataset_id>/include/", views.items_include, name="items_include"),
    path("<int:dataset_id>/exclude-shots/", views.exclude_shots, name="exclude_shots"),
    path("<int:dataset_id>/exclude/", views.exclude_outliers, name="exclude_outliers"),
    path("<int:dataset_id>/exports/", views.export_list, name="exports"),
    path("<int:dataset_id>/exports/new/", views.export_create, name="export_create"),
    path("items/<int:item_id>/", views.item_tile, name="item"),
    path("items/<int:item_id>/caption/", views.item_caption, name="item_caption"),
    path("items/<int:item_id>/include/", views.item_include, name="item_include"),
    path("items/<int:item_id>/shot/", views.item_shot, name="item_shot"),
    path("exports/<uuid:export_id>/download/", views.export_download, name="export_download"),
]
