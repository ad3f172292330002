from django.core.paginator import Paginator
from django.shortcuts import render

from .models import GenerationRun


def run_list(request):
    runs = GenerationRun.objects.select_related("character", "created_by").order_by("-created_at")
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    return render(request, "generation/run_list.html", {"page": page})
