"""A verification worker process loads and runs every model the gate may use when it starts,
with one compute thread per library, so no image pays a model load or a thread pool."""

import cv2
import pytest

from apps.renders import tasks
from apps.verification import ocr, second_opinion


@pytest.fixture
def fresh_models():  # type: ignore[no-untyped-def]
    """Forget this process's loaded models, as a newly forked worker child has none."""
    ocr._loaded_backend.cache_clear()
    second_opinion._tesseract_line.cache_clear()
    threads = cv2.getNumThreads()
    yield
    cv2.setNumThreads(threads)


def test_warm_ocr_loads_every_model_of_a_verify_worker(fresh_models, monkeypatch):
    monkeypatch.setattr(tasks, "_consumes_verify_queue", lambda: True)
    cv2.setNumThreads(4)

    tasks.warm_ocr()

    engine = ocr.ocr_backend()._engine  # type: ignore[attr-defined]
    assert (engine.text_det is not None, engine.text_cls is not None, engine.text_rec is not None) == (True, True, True)
    assert second_opinion._tesseract_line.cache_info().currsize == 1
    assert cv2.getNumThreads() == 1


def test_warm_ocr_loads_nothing_in_a_worker_without_the_verify_queue(fresh_models, monkeypatch):
    monkeypatch.setattr(tasks, "_consumes_verify_queue", lambda: False)

    tasks.warm_ocr()

    assert ocr._loaded_backend.cache_info().currsize == 0
    assert second_opinion._tesseract_line.cache_info().currsize == 0


def test_ocr_warm_returns_the_process_backend(fresh_models):
    backend = ocr.ocr_warm("tesseract")

    assert backend is ocr.ocr_backend("tesseract")


def test_celery_waits_for_a_new_pool_process_to_load_its_models():
    from renderhub.celery import app

    # Celery SIGKILLs a replacement child that is not up within this many seconds.
    assert app.conf.worker_proc_alive_timeout >= 60
