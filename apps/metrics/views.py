from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.access import permission_required


@permission_required("renders.view_all_renders")
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "core/placeholder.html", {"title": "Metrics"})
