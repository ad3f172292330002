from django.urls import path

from . import views

app_name = "training"
urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("new/", views.job_new, name="job_new"),
    path("jobs/<int:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:job_id>/retry/", views.job_retry, name="job_retry"),
    path("presets/", views.preset_save, name="preset_save"),
    path("loras/<int:lora_id>/", views.lora_detail, name="lora_detail"),
    path("loras/<int:lora_id>/reference-set/", views.reference_set, name="reference_set"),
    path("loras/<int:lora_id>/approve/", views.lora_approve, name="lora_approve"),
    path("loras/<int:lora_id>/retire/", views.lora_retire, name="lora_retire"),
    path("characters/<slug:slug>/", views.character_training, name="character"),
    path("characters/<slug:slug>/compare/", views.compare, name="compare"),
    path("characters/<slug:slug>/pin/", views.pin_edit, name="pin_edit"),
    path("characters/<slug:slug>/pin/drift/", views.pin_drift, name="pin_drift"),
    path("characters/<slug:slug>/pins/<int:version>/", views.pin_detail, name="pin_detail"),
    path("characters/<slug:slug>/pins/<int:version>/pack/", views.pin_pack, name="pin_pack"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<int:endpoint_id>/delete/", views.webhook_delete, name="webhook_delete"),
    path(
        "webhooks/deliveries/<uuid:delivery_id>/redeliver/",
        views.webhook_redeliver,
        name="webhook_redeliver",
    ),
    path("notifications/", views.notification_list, name="notifications"),
]
