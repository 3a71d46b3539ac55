"""The OpenAI-compatible facade under /v1/ (apps/renders/openai_api.py). The last pattern
answers every other /v1/ path with OpenAI's 404 envelope."""

from django.urls import path, re_path

from apps.renders import openai_api

urlpatterns = [
    path("images/generations", openai_api.images_generations, name="openai-images"),
    path("images/files/<str:token>", openai_api.image_file, name="openai-image-file"),
    re_path(r"^images/(?P<operation>edits|variations)/?$", openai_api.images_unsupported),
    path("models", openai_api.models_list, name="openai-models"),
    path("models/<str:model_id>", openai_api.models_detail, name="openai-model"),
    re_path(r"^(?P<rest>.*)$", openai_api.not_found),
]
