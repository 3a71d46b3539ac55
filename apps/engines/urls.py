from django.urls import path

from apps.engines import views

app_name = "engines"

urlpatterns = [
    path("", views.index, name="engine-list"),
]
