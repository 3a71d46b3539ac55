"""`python manage.py engine_server --port N [--engine SLUG] [--latency-p50-ms …]`

Serves the generic engine protocol (DESIGN.md "Contracts") with any engine behind it — the
built-in simulation by default — so the harness, curl and load tests have a stand-in engine
with a chosen latency distribution:

    curl -s -X POST localhost:8765/generate -H 'Content-Type: application/json' \\
         -d '{"prompt": "a \\"SALE\\" sticker", "seed": 7, "size": "512x512"}' -o out.png

Optional body fields `adapter` (str) and `adapter_strength` (float, default 1.0) name an adapter
(a LoRA); the built-in simulation knows `renderhub-sim/typography-lora` (and `--known-adapter
REF=FACTOR`) and SIMULATES it by lowering its typo rate by FACTOR ** strength: no weights exist.

POST on any path; answers 200 with the image (`X-Seed`, `X-Request-Id`), 400 for a bad
body or an adapter the simulation does not know (`unknown_adapter`), 422 for a content-policy
refusal, 503 (+ Retry-After) for a retryable failure and 502
for any other engine error, each as `{"error": {"code", "message"}}`.
"""

import json
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from apps.engines.models import AdapterKind, Engine, EngineCall
from apps.engines.services import engine_generate
from apps.engines.types import EngineError, EngineRequest, RefusedError, RetryableError

LATENCY_OPTIONS = {
    "latency_p50_ms": "--latency-p50-ms",
    "latency_sigma": "--latency-sigma",
    "tail_prob": "--tail-prob",
    "tail_factor": "--tail-factor",
    "typo_rate": "--typo-rate",
}


def parse_body(raw: bytes) -> EngineRequest:
    """The protocol's JSON body as an EngineRequest; ValueError says what is wrong."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise ValueError("The body must be JSON.") from None
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
        raise ValueError('The body needs a "prompt" string.')
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ValueError('"seed" must be a non-negative integer or null.')
    try:
        w_text, h_text = str(body.get("size", "512x512")).lower().split("x")
        width, height = int(w_text), int(h_text)
    except ValueError:
        raise ValueError('"size" must look like 768x512.') from None
    limit = settings.RENDERHUB_MAX_SIDE
    if not (64 <= width <= limit and 64 <= height <= limit):
        raise ValueError(f"Each side must be between 64 and {limit} pixels.")
    guidance = body.get("guidance", 0)
    adapter = body.get("adapter") or ""
    if not isinstance(adapter, str) or len(adapter) > 300:
        raise ValueError('"adapter" must be a string of at most 300 characters.')
    strength = body.get("adapter_strength", 1.0 if adapter else None)
    if strength is not None and (isinstance(strength, bool) or not isinstance(strength, int | float)):
        raise ValueError('"adapter_strength" must be a number.')
    return EngineRequest(
        prompt=body["prompt"],
        seed=seed,
        width=width,
        height=height,
        negative_prompt=str(body.get("negative_prompt") or ""),
        guidance=guidance if isinstance(guidance, int) and not isinstance(guidance, bool) else 0,
        adapter_ref=adapter,
        adapter_strength=float(strength) if adapter and strength is not None else None,
    )


def known_adapters(values: list[str]) -> dict[str, float]:
    """`["ref=0.2", …]` as {ref: 0.2}; CommandError for a malformed value or a factor outside 0–1."""
    out: dict[str, float] = {}
    for value in values:
        ref, _, factor = value.rpartition("=")
        try:
            number = float(factor)
        except ValueError:
            raise CommandError(f"--known-adapter takes REF=FACTOR, got {value!r}.") from None
        if not ref or not 0 <= number <= 1:
            raise CommandError(f"--known-adapter takes REF=FACTOR with FACTOR between 0 and 1, got {value!r}.")
        out[ref] = number
    return out


def unknown_adapter(engine: Engine, request: EngineRequest) -> str:
    """Why the built-in simulation cannot apply the request's adapter ("" when it can, or when
    another engine is served: that engine decides). An unknown adapter is refused, never
    silently ignored."""
    if not request.adapter_ref or engine.adapter != AdapterKind.BUILTIN:
        return ""
    from apps.engines.adapters.builtin import BuiltinAdapter

    known = BuiltinAdapter(engine).adapters
    if request.adapter_ref in known:
        return ""
    return f"Unknown adapter {request.adapter_ref!r}; this simulation knows {', '.join(sorted(known))}."


def make_handler(engine: Engine) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "RenderHubEngineServer/0.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps({"error": {"code": code, "message": message}}).encode()
            self.reply(status, payload, "application/json", headers)

        def do_GET(self) -> None:
            info = {
                "engine": engine.slug,
                "adapter": engine.adapter,
                "protocol": "POST JSON {prompt, seed, size} [negative_prompt, guidance, adapter, adapter_strength]",
            }
            self.reply(200, json.dumps(info).encode(), "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1_000_000:
                self.error(413, "too_large", "The request body is too large.")
                return
            try:
                request = parse_body(self.rfile.read(length))
            except ValueError as exc:
                self.error(400, "bad_request", str(exc))
                return
            unknown = unknown_adapter(engine, request)
            if unknown:
                self.error(400, "unknown_adapter", unknown)
                return
            close_old_connections()
            try:
                result = engine_generate(engine=engine, request=request, source=EngineCall.Source.SERVER)
            except RefusedError as exc:
                self.error(422, "content_policy", exc.message)
                return
            except RetryableError as exc:
                extra = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after is not None else {}
                self.error(503, "retryable", exc.message, extra)
                return
            except EngineError as exc:
                self.error(502, exc.kind, exc.message)
                return
            finally:
                close_old_connections()
            headers = {"X-Request-Id": result.vendor_request_id or uuid.uuid4().hex}
            if result.seed_used is not None:
                headers["X-Seed"] = str(result.seed_used)
            self.reply(200, result.image, result.mime_type, headers)
            self.server.served += 1  # type: ignore[attr-defined]

    return Handler


class Command(BaseCommand):
    help = "Serve the generic engine protocol with any engine behind it (the built-in simulation by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed at start).")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--engine", default="", help="Slug of the engine to serve (default: a built-in simulation)."
        )
        for name, flag in LATENCY_OPTIONS.items():
            parser.add_argument(flag, dest=name, type=float, default=None, help=f"Built-in engine's {name}.")
        parser.add_argument(
            "--known-adapter",
            action="append",
            default=[],
            metavar="REF=FACTOR",
            help="Built-in simulation: an adapter reference it knows and its typo factor 0-1 (SIMULATED).",
        )
        parser.add_argument("--max-requests", type=int, default=0, help="Stop after this many images (0: never).")

    def handle(self, *args: Any, **options: Any) -> None:
        overrides: dict[str, Any] = {name: options[name] for name in LATENCY_OPTIONS if options[name] is not None}
        if options["known_adapter"]:
            overrides["adapters"] = known_adapters(options["known_adapter"])
        if options["engine"]:
            engine = Engine.objects.filter(slug=options["engine"]).first()
            if engine is None:
                raise CommandError(f"No engine with slug {options['engine']!r}.")
            if overrides and engine.adapter != AdapterKind.BUILTIN:
                raise CommandError("Latency and simulated-adapter options apply to built-in engines only.")
            engine.params = {**(engine.params or {}), **overrides}
        else:
            # Unsaved: serves without a database and records no calls.
            engine = Engine(
                slug="engine-server",
                name="Engine server (built-in simulation)",
                adapter=AdapterKind.BUILTIN,
                is_simulation=True,
                params={"latency_p50_ms": 300.0, **overrides},
            )
        server = ThreadingHTTPServer((options["host"], options["port"]), make_handler(engine))
        server.daemon_threads = True
        server.served = 0  # type: ignore[attr-defined]
        host, port = server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        self.stdout.write(f"Serving the generic engine protocol on http://{host}:{port}/ (engine: {engine.slug})")
        self.stdout.flush()
        try:
            if options["max_requests"]:
                while server.served < options["max_requests"]:  # type: ignore[attr-defined]
                    server.handle_request()
            else:
                server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
