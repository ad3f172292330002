from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import render

from .models import Dataset


def dataset_list(request):
    datasets = (
        Dataset.objects.select_related("character")
        .annotate(
            item_count=Count("items", filter=Q(items__included=True), distinct=True),
            export_count=Count("exports", filter=Q(exports__status="ready"), distinct=True),
        )
        .order_by("-created_at")
    )
    page = Paginator(datasets, 50).get_page(request.GET.get("page"))
    return render(request, "datasets/dataset_list.html", {"page": page})
