"""Fake vendor servers on real loopback sockets, speaking each vendor's wire format.

Each fake records every request (method, path, query, headers, raw body) and answers as the
vendor documents it (research/engines.md §1–§4, §6, §9), including its validation errors.
Faults are queued: `fake.faults = ["429_retry_after", ...]` makes the next generation
requests fail that way, one fault per request, then the fake answers normally.
"""

import base64
import email.parser
import email.policy
import gzip
import io
import json
import struct
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The multipart/form-data fields (raises if the body is not multipart)."""
        ctype = self.headers.get("content-type", "")
        assert ctype.startswith("multipart/form-data"), ctype
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + self.body
        )
        out = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            out[str(name)] = part.get_payload(decode=True).decode()
        return out


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drip_interval: float = 0.0  # > 0: send the body one byte at a time
    stall_after: int = 0  # > 0: with drip, stall for `stall` seconds after this many bytes
    stall: float = 0.0
    delay: float = 0.0  # wait before sending anything


def png(width: int, height: int, color: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def jpeg(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 60, 60)).save(buf, format="JPEG")
    return buf.getvalue()


def pixel_bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims a huge canvas (900 MP): must be refused before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


_BOMB: bytes | None = None


def gzip_bomb() -> bytes:
    """~60 KB on the wire, 64 MiB once decompressed."""
    global _BOMB
    if _BOMB is None:
        _BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    return _BOMB


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode())


class FakeServer:
    """Base: a threaded HTTP/1.1 server on 127.0.0.1 with a random free port."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.faults: list[str] = []
        self.closing = False
        self.lock = threading.Lock()
        self.latency = 0.0  # seconds each POST takes, to observe requests in flight
        self.inflight = 0
        self.max_inflight = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                rec = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with fake.lock:
                    fake.requests.append(rec)
                    if rec.method == "POST":
                        fake.inflight += 1
                        fake.max_inflight = max(fake.max_inflight, fake.inflight)
                try:
                    if rec.method == "POST" and fake.latency:
                        time.sleep(fake.latency)
                    reply = fake.route(rec)
                finally:
                    if rec.method == "POST":
                        with fake.lock:
                            fake.inflight -= 1
                fake.send(self, reply)

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.closing = True
        self.httpd.shutdown()
        self.httpd.server_close()

    def send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        try:
            handler.send_response(reply.status)
            headers = {"Content-Length": str(len(reply.body)), **reply.headers}
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            if reply.drip_interval:
                for i in range(len(reply.body)):
                    if self.closing:
                        return
                    if reply.stall_after and i == reply.stall_after:
                        time.sleep(reply.stall)
                    handler.wfile.write(reply.body[i : i + 1])
                    handler.wfile.flush()
                    time.sleep(reply.drip_interval)
            else:
                handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # --- dispatch -----------------------------------------------------------------
    def generation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    def route(self, rec: Recorded) -> Reply:
        raise NotImplementedError

    def next_fault(self) -> str | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    def common_fault(self, fault: str, *, success_type: str = "image/png") -> Reply | None:
        """Faults every vendor can show; None if `fault` is vendor-specific."""
        if fault == "429_retry_after":
            return json_reply(429, {"error": "rate limited"}, {"Retry-After": "1"})
        if fault == "429_retry_after_ms":
            return json_reply(429, {"error": "rate limited"}, {"retry-after-ms": "300"})
        if fault == "429_plain":  # Cloudflare edge ban: text/plain, a huge Retry-After
            return Reply(429, {"Content-Type": "text/plain", "retry-after": "54749"}, b"error code: 1015")
        if fault in ("500", "502", "503"):
            return Reply(int(fault), {"Content-Type": "text/html"}, b"<html><body>Bad gateway</body></html>")
        if fault == "drip":
            return Reply(200, {"Content-Type": success_type}, png(64, 64) * 20, drip_interval=0.05)
        if fault == "drip_then_stall":  # 0.6 s of drip, then 4 s of silence
            return Reply(
                200, {"Content-Type": success_type}, png(64, 64) * 4, drip_interval=0.05, stall_after=12, stall=4.0
            )
        if fault == "slow_headers":
            return Reply(200, {"Content-Type": success_type}, png(64, 64), delay=3.0)
        if fault == "malformed":
            return Reply(200, {"Content-Type": "application/json"}, b'{"data": [{"b64_json": "iVBO')
        if fault == "oversized":
            return Reply(200, {"Content-Type": success_type}, png(64, 64) + b"\0" * 3_000_000)
        if fault == "gzip_bomb":
            return Reply(200, {"Content-Type": success_type, "Content-Encoding": "gzip"}, gzip_bomb())
        if fault == "redirect":
            return Reply(302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
        return None


class GenericFake(FakeServer):
    """The generic protocol (DESIGN.md): POST JSON {prompt, seed, size} → image bytes."""

    def route(self, rec: Recorded) -> Reply:
        if rec.method != "POST" or rec.path != "/generate":
            return json_reply(404, {"error": {"code": "not_found", "message": "no such endpoint"}})
        fault = self.next_fault()
        if fault:
            reply = self.common_fault(fault)
            if reply:
                return reply
            if fault == "refuse":
                return json_reply(422, {"error": {"code": "content_policy", "message": "prompt refused by policy"}})
            if fault == "not_image":
                return Reply(200, {"Content-Type": "image/png"}, b"<html>not an image</html>")
            if fault == "pixel_bomb":
                return Reply(200, {"Content-Type": "image/png"}, pixel_bomb_png())
            if fault == "jpeg":
                return Reply(200, {"Content-Type": "image/png"}, jpeg(320, 200))  # lies about its type
            raise AssertionError(fault)
        try:
            body = rec.json()
            w, h = (int(x) for x in body["size"].split("x"))
        except (ValueError, KeyError, TypeError):
            return json_reply(400, {"error": {"code": "bad_request", "message": "prompt, seed and size are required"}})
        return Reply(
            200,
            {"Content-Type": "image/png", "X-Seed": str(body.get("seed")), "X-Request-Id": "gen-" + uuid.uuid4().hex},
            png(w, h),
        )


class OpenAIFake(FakeServer):
    """OpenAI Images API (research §1, §9.1)."""

    DALLE_SIZES = {"1024x1024", "1792x1024", "1024x1792"}
    GPT_SIZES = {"1024x1024", "1536x1024", "1024x1536", "auto"}
    AUTO_QUALITY = "high"  # what the fake "chooses" for quality "auto" (reported in the answer)

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.force_url = False  # answer with a URL even when b64_json was asked for
        self.usage: dict[str, Any] | None = None  # replaces the GPT image answer's `usage` (a proxy's zeros)

    @staticmethod
    def error(status: int, message: str, code: str | None, type_: str = "invalid_request_error") -> Reply:
        payload = {"error": {"message": message, "type": type_, "param": None, "code": code}}
        return json_reply(status, payload, {"x-request-id": "req_" + uuid.uuid4().hex[:12]})

    def route(self, rec: Recorded) -> Reply:
        if rec.method == "GET" and rec.path.startswith("/files/"):
            return Reply(200, {"Content-Type": "image/png"}, self.files[rec.path])
        if rec.path != "/v1/images/generations" or rec.method != "POST":
            return self.error(404, "Unknown request URL", "unknown_url")
        if not rec.headers.get("authorization", "").startswith("Bearer "):
            return self.error(401, "You didn't provide an API key.", None)
        fault = self.next_fault()
        try:
            body = rec.json()
        except ValueError:
            return self.error(400, "We could not parse the JSON body of your request.", None)
        model = body.get("model", "dall-e-2")
        dalle = model.startswith("dall-e")
        if fault == "retired":
            return self.error(404, f"The model `{model}` has been deprecated, learn more here: …", "model_not_found")
        if fault == "unknown_model":  # the 400 form some deployments answer for a wrong id
            return self.error(
                400, f"The model `{model}` does not exist or you do not have access to it.", "model_not_found"
            )
        if fault == "bad_key":
            return self.error(
                401, "Incorrect API key provided: fake-key***6789. You can find your API key at …", "invalid_api_key"
            )
        if fault == "refuse":
            if dalle:
                return self.error(
                    400,
                    "Your request was rejected as a result of our safety system. Your prompt may contain text "
                    "that is not allowed by our safety system.",
                    "content_policy_violation",
                )
            return self.error(
                400,
                "Your request was rejected by the safety system. safety_violations=[sexual].",
                "moderation_blocked",
                "image_generation_user_error",
            )
        if fault == "refuse_typed":  # a moderation block named by type and details, no code
            payload = {
                "error": {
                    "message": "Request blocked.",
                    "type": "image_generation_user_error",
                    "param": None,
                    "code": None,
                    "moderation_details": {"moderation_stage": "input", "categories": ["violence"]},
                }
            }
            return json_reply(400, payload)
        if fault == "429_json":
            return self.error(
                429,
                "Rate limit exceeded for images per minute in organization org-x. Limit: 0/1min.",
                "rate_limit_exceeded",
                "requests",
            )
        if fault:
            reply = self.common_fault(fault, success_type="application/json")
            if reply:
                return reply
            if fault == "not_image":
                return json_reply(200, {"created": 1, "data": [{"b64_json": base64.b64encode(b"GIF89a....").decode()}]})
            if fault == "empty_data":
                return json_reply(200, {"created": 1, "data": []})
            if fault != "zero_usage":
                raise AssertionError(fault)
        if "seed" in body:
            return self.error(400, "Unrecognized request argument supplied: seed", None)
        if dalle and body.get("n", 1) != 1:
            return self.error(400, "You must provide n=1 for this model.", None)
        size = body.get("size", "1024x1024")
        if model.startswith("gpt-image-2") and size != "auto":
            w, h = (int(x) for x in size.split("x"))
            if w % 16 or h % 16 or max(w / h, h / w) > 3 or max(w, h) > 3840 or min(w, h) > 2160:
                return self.error(400, f"Invalid size {size!r} for {model}.", "invalid_size")
        elif size not in (self.DALLE_SIZES if dalle else self.GPT_SIZES):
            return self.error(400, f"Invalid size {size!r} for {model}.", "invalid_size")
        if dalle:
            if body.get("quality", "standard") not in ("standard", "hd"):
                return self.error(400, "Invalid quality for dall-e-3.", None)
            if "output_format" in body:
                return self.error(400, "Unknown parameter: output_format.", None)
        else:
            if "response_format" in body:
                return self.error(400, "Unknown parameter: 'response_format'.", "unknown_parameter")
            if body.get("quality", "auto") not in ("low", "medium", "high", "auto"):
                return self.error(400, "Invalid quality.", None)
        w, h = (int(x) for x in (size if size != "auto" else "1024x1024").split("x"))
        image = png(w, h)
        headers = {"x-request-id": "req_" + uuid.uuid4().hex[:12]}
        if dalle:
            item: dict[str, Any] = {"revised_prompt": "A revised: " + body["prompt"]}
            if body.get("response_format") == "b64_json" and not self.force_url:
                item["b64_json"] = base64.b64encode(image).decode()
            else:
                path = f"/files/{uuid.uuid4().hex}.png"
                self.files[path] = image
                item["url"] = self.url + path
            return json_reply(200, {"created": 1713833628, "data": [item]}, headers)
        payload = {
            "created": 1713833628,
            "data": [{"b64_json": base64.b64encode(image).decode()}],
            "background": "opaque",
            "output_format": body.get("output_format", "png"),
            "size": size if size != "auto" else "1024x1024",
            "quality": self.AUTO_QUALITY if body.get("quality", "auto") == "auto" else body["quality"],
            "usage": self.usage
            or {
                "total_tokens": 1100,
                "input_tokens": 44,
                "output_tokens": 1056,
                "input_tokens_details": {"text_tokens": 44, "image_tokens": 0},
            },
        }
        if fault == "zero_usage":  # an OpenAI-compatible proxy that zeroes the usage it passes on
            payload["usage"] = {
                "total_tokens": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "input_tokens_details": {"text_tokens": 0, "image_tokens": 0},
            }
        return json_reply(200, payload, headers)


def google_error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> Reply:
    """Google's error envelope (python-genai errors.py; google.rpc.Status)."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return json_reply(code, {"error": error})


def google_common_fault(fault: str, *, vertex: bool) -> Reply | None:
    """Google faults shared by :predict and :generateContent."""
    if fault == "bad_key":
        if vertex:  # an expired or wrong OAuth token
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
                "valid authentication credential.",
            )
        return google_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        )
    if fault == "key_restricted":  # an API key whose restrictions do not allow this API
        return google_error(
            403,
            "PERMISSION_DENIED",
            "Requests to this API generativelanguage.googleapis.com method are blocked.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_SERVICE_BLOCKED",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        )
    if fault == "429_retry_info":  # the Gemini API's quota answer carries RetryInfo, no header
        return google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "x"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.4s"},
            ],
        )
    if fault == "refuse_structured":
        # A block named only in the structured details; the message has neither of the two
        # phrases older code looked for. The reason value is illustrative (not captured).
        return google_error(
            400,
            "INVALID_ARGUMENT",
            "The request was blocked. Support codes: 58061214",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RAI_FILTERED",
                    "domain": "aiplatform.googleapis.com",
                    "metadata": {"filter": "PROMPT_SAFETY"},
                }
            ],
        )
    return None


class ImagenFake(FakeServer):
    """Imagen :predict on the Gemini API and on Vertex AI (research §2, §9.2).

    On Vertex the fake refuses what a model does not document (Vertex Imagen API reference):
    `negativePrompt` except for Imagen 3.0 `-001` models, `enhancePrompt` for
    imagen-3.0-generate-001 / fast-001, `sampleImageSize` for the Fast models.
    """

    ASPECTS = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408), "16:9": (1408, 768)}
    NEGATIVE_PROMPT_MODELS = {"imagen-3.0-generate-001", "imagen-3.0-fast-generate-001"}
    NO_ENHANCE_MODELS = {"imagen-3.0-generate-001", "imagen-3.0-fast-generate-001"}

    @staticmethod
    def error(code: int, status: str, message: str) -> Reply:
        return google_error(code, status, message)

    def route(self, rec: Recorded) -> Reply:
        gemini = rec.path.startswith("/v1beta/models/") and rec.path.endswith(":predict")
        vertex = "/publishers/google/models/" in rec.path and rec.path.endswith(":predict")
        if rec.method != "POST" or not (gemini or vertex):
            return self.error(404, "NOT_FOUND", "Requested entity was not found.")
        if gemini and not rec.headers.get("x-goog-api-key"):
            return self.error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
        if vertex and not rec.headers.get("authorization", "").startswith("Bearer "):
            return self.error(401, "UNAUTHENTICATED", "Request is missing required authentication credential.")
        fault = self.next_fault()
        model = rec.path.rsplit("/", 1)[1].removesuffix(":predict")
        if fault == "retired":
            return self.error(404, "NOT_FOUND", f"models/{model} is no longer available to new users.")
        if fault == "refuse":
            return self.error(
                400,
                "INVALID_ARGUMENT",
                "Image generation failed with the following error: The prompt could not be submitted. This prompt "
                "contains sensitive words that violate Google's Responsible AI practices.",
            )
        if fault == "filtered":
            return json_reply(
                200,
                {
                    "predictions": [
                        {
                            "raiFilteredReason": "Unable to show generated images. All images were filtered out "
                            "because they violated Vertex AI's usage guidelines. Support codes: 29310472"
                        }
                    ]
                },
            )
        if fault == "429":
            return self.error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
        if fault:
            reply = google_common_fault(fault, vertex=vertex) or self.common_fault(
                fault, success_type="application/json"
            )
            if reply:
                return reply
            raise AssertionError(fault)
        body = rec.json()
        params = body.get("parameters", {})
        if vertex:
            if "negativePrompt" in params and model not in self.NEGATIVE_PROMPT_MODELS:
                return self.error(400, "INVALID_ARGUMENT", f"negativePrompt is not supported by {model}.")
            if "enhancePrompt" in params and model in self.NO_ENHANCE_MODELS:
                return self.error(400, "INVALID_ARGUMENT", f"enhancePrompt is not supported by {model}.")
            if "sampleImageSize" in params and "fast" in model:
                return self.error(400, "INVALID_ARGUMENT", f"sampleImageSize is not supported by {model}.")
        if gemini:
            for key in ("seed", "addWatermark", "enhancePrompt", "negativePrompt"):
                if key in params:
                    return self.error(400, "INVALID_ARGUMENT", f"{key} parameter is not supported in Gemini API.")
        if vertex and "seed" in params and params.get("addWatermark", True):
            return self.error(400, "INVALID_ARGUMENT", "Seed is not supported when watermark is enabled.")
        aspect = params.get("aspectRatio", "1:1")
        if aspect not in self.ASPECTS:
            return self.error(400, "INVALID_ARGUMENT", f"Unsupported aspect ratio: {aspect}")
        w, h = self.ASPECTS[aspect]
        return json_reply(
            200,
            {"predictions": [{"bytesBase64Encoded": base64.b64encode(png(w, h)).decode(), "mimeType": "image/png"}]},
        )


class GeminiFake(FakeServer):
    """Gemini API `:generateContent` with image output (Gemini 3.1 Flash Image).

    Request: `contents[].parts[].text`, `generationConfig.responseModalities` containing
    "IMAGE", `generationConfig.imageConfig{aspectRatio, imageSize}`; `x-goog-api-key`.
    Answer: `candidates[0].content.parts[].inlineData{mimeType, data}`, `finishReason`,
    `usageMetadata` (1120 image tokens for a 1K image), `modelVersion`, `responseId`.
    Blocks: `promptFeedback.blockReason` with no candidates; `finishReason: IMAGE_SAFETY`.
    """

    ASPECTS = {
        "1:1": (1024, 1024),
        "2:3": (848, 1264),
        "3:2": (1264, 848),
        "3:4": (896, 1200),
        "4:3": (1200, 896),
        "4:5": (928, 1152),
        "5:4": (1152, 928),
        "9:16": (768, 1376),
        "16:9": (1376, 768),
        "21:9": (1584, 672),
    }
    TOKENS = {"512": 747, "1K": 1120, "2K": 1680, "4K": 2520}
    CONFIG_KEYS = {"responseModalities", "imageConfig", "temperature", "candidateCount"}

    def route(self, rec: Recorded) -> Reply:
        if rec.method != "POST" or not (
            rec.path.startswith("/v1beta/models/") and rec.path.endswith(":generateContent")
        ):
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        if not rec.headers.get("x-goog-api-key"):
            return google_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
        fault = self.next_fault()
        model = rec.path.rsplit("/", 1)[1].removesuffix(":generateContent")
        if fault == "retired":
            return google_error(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta.")
        if fault == "429":
            return google_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
        if fault == "refuse":
            return json_reply(
                200,
                {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 9}},
            )
        if fault:
            reply = google_common_fault(fault, vertex=False) or self.common_fault(
                fault, success_type="application/json"
            )
            if reply:
                return reply
            if fault not in ("image_safety", "text_only", "zero_usage"):
                raise AssertionError(fault)
        body = rec.json()
        config = body.get("generationConfig") or {}
        unknown = set(config) - self.CONFIG_KEYS
        if unknown:
            return google_error(
                400, "INVALID_ARGUMENT", f"Invalid JSON payload received. Unknown name {sorted(unknown)[0]!r}"
            )
        if "IMAGE" not in (config.get("responseModalities") or []):
            return google_error(400, "INVALID_ARGUMENT", "This model only supports image output with IMAGE modality.")
        image_config = config.get("imageConfig") or {}
        aspect = image_config.get("aspectRatio", "1:1")
        size = image_config.get("imageSize", "1K")
        if aspect not in self.ASPECTS or size not in self.TOKENS:
            return google_error(400, "INVALID_ARGUMENT", f"Unsupported imageConfig {image_config}.")
        if not body["contents"][0]["parts"][0]["text"]:
            return google_error(400, "INVALID_ARGUMENT", "contents.parts must not be empty.")
        usage: dict[str, Any] = {
            "promptTokenCount": 12,
            "candidatesTokenCount": self.TOKENS[size],
            "totalTokenCount": 12 + self.TOKENS[size],
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": self.TOKENS[size]}],
        }
        if fault == "zero_usage":
            usage = {"promptTokenCount": 0, "candidatesTokenCount": 0, "totalTokenCount": 0}
        if fault == "image_safety":
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": []}, "finishReason": "IMAGE_SAFETY"}
        elif fault == "text_only":
            candidate = {
                "content": {"role": "model", "parts": [{"text": "I can't create that image."}]},
                "finishReason": "STOP",
            }
        else:
            w, h = self.ASPECTS[aspect]
            scale = {"512": 0.5, "1K": 1, "2K": 2, "4K": 4}[size]
            data = base64.b64encode(png(int(w * scale), int(h * scale))).decode()
            candidate = {
                "content": {"role": "model", "parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]},
                "finishReason": "STOP",
                "index": 0,
            }
        return json_reply(
            200,
            {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": "resp-" + uuid.uuid4().hex[:12],
            },
        )


class StabilityFake(FakeServer):
    """Stability v2beta stable-image/generate/sd3 (research §3, §9.3)."""

    ASPECTS = {
        "1:1": (1024, 1024),
        "16:9": (1344, 768),
        "9:16": (768, 1344),
        "21:9": (1536, 640),
        "9:21": (640, 1536),
        "3:2": (1216, 832),
        "2:3": (832, 1216),
        "5:4": (1088, 896),
        "4:5": (896, 1088),
    }
    MODELS = {"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3-large", "sd3-large-turbo", "sd3-medium"}

    @staticmethod
    def error(status: int, name: str, message: str) -> Reply:
        return json_reply(status, {"id": uuid.uuid4().hex, "name": name, "errors": [message]})

    def route(self, rec: Recorded) -> Reply:
        if rec.method != "POST" or rec.path != "/v2beta/stable-image/generate/sd3":
            return self.error(404, "not_found", "Not found")
        if not rec.headers.get("authorization"):
            return self.error(401, "unauthorized", "Missing API key")
        if not rec.headers.get("content-type", "").startswith("multipart/form-data"):
            return self.error(400, "bad_request", "Content-Type must be multipart/form-data")
        fault = self.next_fault()
        if fault == "bad_key":
            return self.error(401, "unauthorized", "Incorrect API key provided.")
        if fault == "refuse":
            return self.error(
                403,
                "content_moderation",
                "Your request was flagged by our content moderation system, as a result "
                "your request was denied and you were not charged.",
            )
        if fault == "402":
            return self.error(402, "payment_required", "You lack sufficient credits to make this request.")
        if fault == "429":
            return self.error(429, "rate_limit_exceeded", "You have exceeded the rate limit of 150 requests / 10 s.")
        if fault == "retired":
            return self.error(404, "not_found", "The model you requested is no longer available.")
        form = rec.form()
        model = form.get("model", "sd3.5-large")
        if model not in self.MODELS:
            return self.error(400, "bad_request", f"model: must be one of {sorted(self.MODELS)}")
        aspect = form.get("aspect_ratio", "1:1")
        if aspect not in self.ASPECTS:
            return self.error(400, "bad_request", f"aspect_ratio: invalid value {aspect}")
        seed = int(form.get("seed", "0")) or 987654321
        w, h = self.ASPECTS[aspect]
        finish = "SUCCESS"
        if fault == "filtered":
            finish = "CONTENT_FILTERED"
        elif fault:
            reply = self.common_fault(fault)
            if reply:
                return reply
            if fault == "not_image":
                return Reply(
                    200, {"Content-Type": "image/png", "finish-reason": "SUCCESS", "seed": str(seed)}, b"%PDF-1.4"
                )
            raise AssertionError(fault)
        image = png(w, h)
        if rec.headers.get("accept", "").startswith("application/json"):
            payload = {"image": base64.b64encode(image).decode(), "finish_reason": finish, "seed": seed}
            return Reply(200, {"Content-Type": "application/json; type=image/png"}, json.dumps(payload).encode())
        return Reply(
            200,
            {
                "Content-Type": "image/png",
                "finish-reason": finish,
                "seed": str(seed),
                "x-request-id": uuid.uuid4().hex,
            },
            image,
        )


class IdeogramFake(FakeServer):
    """Ideogram legacy /generate (JSON) and /v1/ideogram-v3/generate (multipart) (research §4, §9.4)."""

    LEGACY_MODELS = {"V_1", "V_1_TURBO", "V_2", "V_2_TURBO", "V_2A", "V_2A_TURBO"}
    LEGACY_ASPECTS = {
        "ASPECT_1_1": (1024, 1024),
        "ASPECT_16_9": (1312, 736),
        "ASPECT_9_16": (736, 1312),
        "ASPECT_16_10": (1280, 800),
        "ASPECT_10_16": (800, 1280),
        "ASPECT_3_2": (1248, 832),
        "ASPECT_2_3": (832, 1248),
        "ASPECT_4_3": (1152, 864),
        "ASPECT_3_4": (864, 1152),
        "ASPECT_1_3": (576, 1728),
        "ASPECT_3_1": (1728, 576),
    }
    V3_ASPECTS = {k.removeprefix("ASPECT_").replace("_", "x"): v for k, v in LEGACY_ASPECTS.items()} | {
        "2x1": (1408, 704),
        "1x2": (704, 1408),
        "5x4": (1120, 896),
        "4x5": (896, 1120),
    }

    V4_FIELDS = {"text_prompt", "json_prompt", "resolution", "rendering_speed", "enable_copyright_detection"}
    V4_RESOLUTIONS = {
        "2048x2048", "1440x2880", "2880x1440", "1664x2496", "2496x1664", "1792x2240", "2240x1792",
        "1440x2560", "2560x1440", "1600x2560", "2560x1600", "1728x2304", "2304x1728", "1296x3168",
        "3168x1296", "1152x2944", "2944x1152", "1248x3328", "3328x1248", "1280x3072", "3072x1280",
    }  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}
        self.expire_urls = False  # the ephemeral URL is already gone when fetched

    def route(self, rec: Recorded) -> Reply:
        if rec.method == "GET" and rec.path.startswith("/api/images/ephemeral/"):
            if self.expire_urls:
                self.files.clear()
            if rec.path not in self.files:
                return json_reply(404, {"error": "expired"})
            return Reply(200, {"Content-Type": "image/png"}, self.files[rec.path])
        if rec.method != "POST" or rec.path not in (
            "/generate",
            "/v1/ideogram-v3/generate",
            "/v1/ideogram-v4/generate",
        ):
            return json_reply(404, {"error": "Not found"})
        if not rec.headers.get("api-key"):
            return json_reply(401, {"error": "Unauthorized: use the Api-Key header"})
        fault = self.next_fault()
        if fault == "bad_key":
            return json_reply(401, {"error": "Invalid API key"})
        if fault == "refuse":
            return json_reply(422, {"error": "Prompt or provided image failed the safety checks"})
        if fault == "429":
            return json_reply(
                429,
                {
                    "error": "Too many in-flight requests",
                    "reject_reason": "inflight_limit",
                    "max_inflight_requests": 10,
                },
            )
        if fault == "402":
            return json_reply(402, {"error": "Payment required", "reject_reason": "insufficient_funds"})
        if fault and fault != "unsafe":
            reply = self.common_fault(fault, success_type="application/json")
            if reply:
                return reply
            raise AssertionError(fault)
        if rec.path == "/generate":
            if not rec.headers.get("content-type", "").startswith("application/json"):
                return json_reply(400, {"error": "Expected JSON"})
            req = rec.json().get("image_request") or {}
            if req.get("model", "V_2") not in self.LEGACY_MODELS:
                return json_reply(400, {"error": f"Invalid model {req.get('model')}"})
            aspect = req.get("aspect_ratio", "ASPECT_1_1")
            if aspect not in self.LEGACY_ASPECTS:
                return json_reply(400, {"error": f"Invalid aspect_ratio {aspect}"})
            size = self.LEGACY_ASPECTS[aspect]
            seed = int(req.get("seed") or 0) or 1705925986
        elif rec.path == "/v1/ideogram-v4/generate":
            form = rec.form()
            unknown = set(form) - self.V4_FIELDS
            if unknown:
                return json_reply(400, {"error": f"Unknown field for the V4 endpoint: {sorted(unknown)[0]}"})
            if not form.get("text_prompt"):
                return json_reply(400, {"error": "text_prompt or json_prompt is required"})
            speed = form.get("rendering_speed", "DEFAULT")
            if speed not in ("TURBO", "DEFAULT", "QUALITY"):
                return json_reply(400, {"error": f"rendering_speed {speed} is not supported for Ideogram 4.0"})
            resolution = form.get("resolution", "2048x2048")
            if resolution not in self.V4_RESOLUTIONS:
                return json_reply(400, {"error": f"Invalid resolution {resolution}"})
            size = tuple(int(x) for x in resolution.split("x"))
            seed = 1705925986
        else:
            form = rec.form()
            if "model" in form or "magic_prompt_option" in form:
                return json_reply(400, {"error": "Unknown field for the V3 endpoint"})
            aspect = form.get("aspect_ratio", "1x1")
            if aspect not in self.V3_ASPECTS:
                return json_reply(400, {"error": f"Invalid aspect_ratio {aspect}"})
            size = self.V3_ASPECTS[aspect]
            seed = int(form.get("seed") or 0) or 1705925986
        item: dict[str, Any] = {
            "prompt": "magic: ...",
            "resolution": f"{size[0]}x{size[1]}",
            "is_image_safe": True,
            "seed": seed,
            "style_type": None,
        }
        if fault == "unsafe":
            item.update(is_image_safe=False, url="")
        else:
            path = f"/api/images/ephemeral/{uuid.uuid4().hex}.png"
            self.files[path] = png(*size)
            item["url"] = f"{self.url}{path}?exp=1730000000&sig=abc"
        return json_reply(200, {"created": "2024-10-30T18:45:11.507243+00:00", "data": [item]})


# ComfyUI's node shapes (comfyanonymous/ComfyUI nodes.py, INPUT_TYPES "required" link inputs and
# RETURN_TYPES) for the nodes RenderHub's workflows use; other classes are checked for links only.
COMFY_OUTPUTS: dict[str, tuple[str, ...]] = {
    "CheckpointLoaderSimple": ("MODEL", "CLIP", "VAE"),
    "LoraLoader": ("MODEL", "CLIP"),
    "CLIPTextEncode": ("CONDITIONING",),
    "EmptyLatentImage": ("LATENT",),
    "KSampler": ("LATENT",),
    "VAEDecode": ("IMAGE",),
    "SaveImage": (),
    "PreviewImage": (),
}
COMFY_LINK_INPUTS: dict[str, dict[str, str]] = {
    "LoraLoader": {"model": "MODEL", "clip": "CLIP"},
    "CLIPTextEncode": {"clip": "CLIP"},
    "KSampler": {"model": "MODEL", "positive": "CONDITIONING", "negative": "CONDITIONING", "latent_image": "LATENT"},
    "VAEDecode": {"samples": "LATENT", "vae": "VAE"},
    "SaveImage": {"images": "IMAGE"},
    "PreviewImage": {"images": "IMAGE"},
}
LORA_INPUTS = {"model", "clip", "lora_name", "strength_model", "strength_clip"}


def comfy_graph_errors(workflow: dict[str, Any], *, loras: list[str]) -> dict[str, list[str]]:
    """What ComfyUI's validation would refuse in an API-format workflow, per node id: links to a
    missing node or output index, links of the wrong type, LoraLoader inputs other than
    model/clip/lora_name/strength_model/strength_clip, a lora_name not in models/loras, a
    non-numeric strength."""
    errors: dict[str, list[str]] = {}
    for node_id, node in workflow.items():
        problems: list[str] = []
        if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict) or "class_type" not in node:
            errors[node_id] = ["not a node: needs class_type and inputs"]
            continue
        kind, inputs = node["class_type"], node["inputs"]
        for name, value in inputs.items():
            if not isinstance(value, list):
                continue
            if len(value) != 2 or not isinstance(value[0], str) or not isinstance(value[1], int):
                problems.append(f"{name}: a link is [node_id, output_index], got {value!r}")
                continue
            source = workflow.get(value[0])
            if not isinstance(source, dict):
                problems.append(f"{name}: links to node {value[0]!r}, which does not exist")
                continue
            outputs = COMFY_OUTPUTS.get(source.get("class_type", ""))
            if outputs is None:
                continue
            if not 0 <= value[1] < len(outputs):
                problems.append(f"{name}: {source['class_type']} has no output {value[1]}")
                continue
            wanted = COMFY_LINK_INPUTS.get(kind, {}).get(name)
            if wanted and outputs[value[1]] != wanted:
                problems.append(f"{name}: needs {wanted}, linked to {outputs[value[1]]}")
        for name, wanted in COMFY_LINK_INPUTS.get(kind, {}).items():
            if name not in inputs:
                problems.append(f"Required input is missing: {name} ({wanted})")
        if kind == "LoraLoader":
            if set(inputs) != LORA_INPUTS:
                problems.append(f"LoraLoader inputs are {sorted(LORA_INPUTS)}, got {sorted(inputs)}")
            if inputs.get("lora_name") not in loras:
                problems.append(f"Value not in list: lora_name: {inputs.get('lora_name')!r} not in {loras}")
            for name in ("strength_model", "strength_clip"):
                value = inputs.get(name)
                if isinstance(value, bool) or not isinstance(value, int | float) or not -100 <= value <= 100:
                    problems.append(f"{name}: a number between -100 and 100, got {value!r}")
        if problems:
            errors[node_id] = problems
    return errors


class ComfyUIFake(FakeServer):
    """ComfyUI's HTTP API: POST /prompt, GET /history/{id}, GET /view.

    Every queued workflow's node graph is validated (`comfy_graph_errors`) and refused with
    ComfyUI's 400 `prompt_outputs_failed_validation` answer when a link or a LoraLoader is
    wrong; `loras` are the files in its models/loras folder; `accepted` keeps each workflow it queued.
    """

    def __init__(self, *, pending_polls: int = 2) -> None:
        super().__init__()
        self.pending_polls = pending_polls
        self.jobs: dict[str, dict[str, Any]] = {}
        # A workflow with a PreviewImage node whose draft (`type: temp`) /history lists first.
        self.preview_first = False
        self.loras = ["cover_typography_v1.safetensors"]
        self.accepted: list[dict[str, Any]] = []

    def route(self, rec: Recorded) -> Reply:
        if rec.method == "POST" and rec.path == "/prompt":
            fault = self.next_fault()
            body = rec.json()
            workflow = body.get("prompt")
            if fault == "node_errors" or not isinstance(workflow, dict):
                return json_reply(
                    400,
                    {
                        "error": {
                            "type": "prompt_outputs_failed_validation",
                            "message": "Prompt outputs failed validation",
                        },
                        "node_errors": {"4": {"errors": [{"message": "Value not in list: ckpt_name"}]}},
                    },
                )
            if fault == "node_errors_200":
                # ComfyUI queues the outputs that validated and reports the rest in node_errors.
                prompt_id = str(uuid.uuid4())
                self.jobs[prompt_id] = {"polls": 0, "size": (512, 512), "error": False}
                return json_reply(
                    200,
                    {
                        "prompt_id": prompt_id,
                        "number": len(self.jobs),
                        "node_errors": {
                            "12": {
                                "errors": [{"type": "value_not_in_list", "message": "Value not in list: lora_name"}],
                                "dependent_outputs": ["13"],
                                "class_type": "LoraLoader",
                            }
                        },
                    },
                )
            if fault:
                reply = self.common_fault(fault, success_type="application/json")
                if reply:
                    return reply
                if fault != "exec_error":
                    raise AssertionError(fault)
            graph_errors = comfy_graph_errors(workflow, loras=self.loras)
            if graph_errors:
                return json_reply(
                    400,
                    {
                        "error": {
                            "type": "prompt_outputs_failed_validation",
                            "message": "Prompt outputs failed validation",
                            "details": "",
                            "extra_info": {},
                        },
                        "node_errors": {
                            node_id: {
                                "errors": [{"type": "invalid_input", "message": m} for m in messages],
                                "class_type": workflow.get(node_id, {}).get("class_type", ""),
                            }
                            for node_id, messages in graph_errors.items()
                        },
                    },
                )
            self.accepted.append(workflow)
            prompt_id = str(uuid.uuid4())
            size = (512, 512)
            for node in workflow.values():
                if node.get("class_type") == "EmptyLatentImage":
                    size = (int(node["inputs"]["width"]), int(node["inputs"]["height"]))
            self.jobs[prompt_id] = {"polls": 0, "size": size, "error": fault == "exec_error"}
            return json_reply(200, {"prompt_id": prompt_id, "number": len(self.jobs), "node_errors": {}})
        if rec.method == "GET" and rec.path.startswith("/history/"):
            prompt_id = rec.path.rsplit("/", 1)[1]
            job = self.jobs.get(prompt_id)
            if job is None:
                return json_reply(200, {})
            job["polls"] += 1
            if job["polls"] <= self.pending_polls:
                return json_reply(200, {})
            if job["error"]:
                status = {
                    "status_str": "error",
                    "completed": False,
                    "messages": [["execution_error", {"exception_message": "CUDA out of memory"}]],
                }
                return json_reply(200, {prompt_id: {"outputs": {}, "status": status}})
            images = [{"filename": f"renderhub_{prompt_id[:8]}_.png", "subfolder": "", "type": "output"}]
            outputs: dict[str, Any] = {"9": {"images": images}}
            if self.preview_first:
                draft = {"filename": f"ComfyUI_temp_{prompt_id[:5]}_00001_.png", "subfolder": "", "type": "temp"}
                outputs = {"10": {"images": [draft]}, **outputs}
            return json_reply(
                200,
                {
                    prompt_id: {
                        "prompt": [],
                        "outputs": outputs,
                        "status": {"status_str": "success", "completed": True, "messages": []},
                    }
                },
            )
        if rec.method == "GET" and rec.path == "/view":
            name = rec.query.get("filename", [""])[0]
            if rec.query.get("type", ["output"])[0] == "temp":  # a low-quality preview draft
                return Reply(200, {"Content-Type": "image/png"}, png(64, 64, (0, 0, 0)))
            for prompt_id, job in self.jobs.items():
                if name == f"renderhub_{prompt_id[:8]}_.png":
                    return Reply(200, {"Content-Type": "image/png"}, png(*job["size"]))
            return Reply(404, {"Content-Type": "text/plain"}, b"not found")
        return Reply(404, {"Content-Type": "text/plain"}, b"404: Not Found")
