"""Property-based fuzzing of every submit endpoint (Hypothesis): no body may cause a 500.

Bodies are drawn from the fields each endpoint knows, each filled with either a plausible
value or something hostile (NUL, lone surrogates, 5,000-digit integers, nesting up to 100,000
deep, NaN, over-long strings, wrong types), plus arbitrary JSON and arbitrary bytes. Every
tier's budget is spent (and set to refuse), so a valid body is answered at once (202/429)
instead of waiting for a render with no worker running.

The figures (examples per endpoint, status counts, 500s by exception) print with `-s`;
`FUZZ_EXAMPLES=N` runs N examples per endpoint instead of the default.
"""

import json
import os
import re
from collections import Counter
from decimal import Decimal

import pytest
from django.core.signals import got_request_exception
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.accounts.services import api_token_create
from apps.policy.models import Tier, WhenSpent
from apps.renders.schemas import MAX_PROMPT_CHARS

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))


class Raw(str):
    """JSON text spliced into the body as is (what json.dumps cannot or will not write)."""


def dump(value: object) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


hostile_chars = st.sampled_from(["\x00", "\ud800", "\udfff", '"', "\\", "\u202e", "\ufeff", "\n", "é", "🎉"])
clean_texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=["\x00"]), max_size=30)
texts = st.text(st.one_of(st.characters(), hostile_chars), max_size=30)
long_texts = st.integers(MAX_PROMPT_CHARS - 2, MAX_PROMPT_CHARS + 2).map(lambda n: "a" * n)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
    st.integers(4290, 5200).map(lambda n: Raw("9" * n)),  # around int_max_str_digits
    st.integers(30, 100_000).map(lambda d: Raw("[" * d + "]" * d)),
    st.sampled_from([Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e999"), Raw("-0")]),
)
any_json = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3))

prompts = st.one_of(
    clean_texts,
    long_texts,
    st.just('a "SALE" sign'),
    clean_texts.map(lambda t: f'a "{t}" sign'),
    texts,
    texts.map(lambda t: f'a "{t}" sign'),
)
sizes = st.one_of(
    st.sampled_from(["768x512", "512x512", "64x64", "2048x2048"]),
    st.from_regex(r"[0-9]{1,6}[xX][0-9]{1,6}", fullmatch=True),
)
RENDER_FIELDS = {
    "prompt": prompts,
    "seed": st.integers(-5, 2**31 + 5),
    "size": sizes,
    "template": st.sampled_from(["editorial-cover", "product-thumbnail", "editorial-cover", "nope"]),
    "texts": st.dictionaries(
        st.one_of(st.sampled_from(["title", "overlay", "text1"]), clean_texts), prompts, max_size=3
    ),
    "tier": st.sampled_from(["preview", "production", "preview", "gold"]),
    "asset_class": st.sampled_from(["editorial", "preview", "editorial", "poster", ""]),
    "negative_prompt": st.one_of(clean_texts, texts),
}
OPENAI_FIELDS = {
    "prompt": prompts,
    "model": st.sampled_from(["builtin-turbo", "builtin-ultra", "production", "preview", "dall-e-3"]),
    "n": st.integers(-2, 6),
    "size": sizes,
    "seed": RENDER_FIELDS["seed"],
    "response_format": st.sampled_from(["b64_json", "url", "gif"]),
}


def bodies(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy[bytes]:
    """Plausible bodies, half of them with one field (or an unknown one) made hostile."""
    plausible = st.fixed_dictionaries(
        {"prompt": fields["prompt"]}, optional={k: v for k, v in fields.items() if k != "prompt"}
    )
    spoiled = st.tuples(plausible, st.sampled_from([*fields, "colour"]), any_json).map(lambda t: {**t[0], t[1]: t[2]})
    text = st.one_of(plausible.map(dump), plausible.map(dump), spoiled.map(dump), any_json.map(dump))
    return st.one_of(text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=64))


ENDPOINTS = {
    "/api/v1/renders": RENDER_FIELDS,
    "/api/models/render": RENDER_FIELDS,
    "/api/models/builtin-turbo": RENDER_FIELDS,
    "/v1/images/generations": OPENAI_FIELDS,
}


@pytest.fixture
def refusing_budgets(demo):  # type: ignore[no-untyped-def]
    Tier.objects.update(daily_budget_usd=Decimal("0"), when_spent=WhenSpent.REFUSE, degrade_to=None)


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_fuzz_submit_endpoint_never_answers_500(path, refusing_budgets, editor, capsys):
    token = api_token_create(user=editor)
    client = Client(raise_request_exception=False)
    statuses: Counter[int] = Counter()
    crashes: list[tuple[str, bytes]] = []
    last_exception: list[str] = []

    def record(sender: object, request: object = None, **kwargs: object) -> None:
        import sys

        exc = sys.exc_info()[1]
        # One kind per exception type and message shape (digits vary with the example).
        last_exception.append(f"{type(exc).__name__}: {re.sub(r'[0-9]+', 'N', str(exc))[:70]}")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(body=bodies(ENDPOINTS[path]))
    def post(body: bytes) -> None:
        last_exception.clear()
        with transaction.atomic():  # each example on its own: a failed one cannot poison the next
            response = client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
            transaction.set_rollback(True)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            crashes.append((last_exception[-1] if last_exception else "?", body[:120]))

    got_request_exception.connect(record)
    try:
        post()
    finally:
        got_request_exception.disconnect(record)

    kinds = Counter(kind for kind, _ in crashes)
    with capsys.disabled():
        print(
            f"\nfuzz {path}: {sum(statuses.values())} examples, statuses {dict(sorted(statuses.items()))}, "
            f"500s {len(crashes)} ({len(kinds)} distinct: {dict(kinds)})"
        )
    assert not crashes, crashes[:5]
