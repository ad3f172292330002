from django.core.paginator import Paginator
from django.shortcuts import render

from .models import TrainingJob


def job_list(request):
    jobs = TrainingJob.objects.select_related("character", "export__dataset").order_by(
        "-created_at"
    )
    page = Paginator(jobs, 50).get_page(request.GET.get("page"))
    return render(request, "training/job_list.html", {"page": page})
