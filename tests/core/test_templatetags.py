from decimal import Decimal

import pytest

from apps.core.templatetags.rh import usd

# The suite's autouse fixtures set up the test database for every test.
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("0.1000"), "$0.10"),  # was "$0.1", next to "estimated $0.10" in the admission reason
        (Decimal("0"), "$0.00"),  # was "$0"
        (Decimal("0.0425"), "$0.0425"),  # sub-cent prices keep their digits
        (Decimal("0.16"), "$0.16"),
        (Decimal("1234.5"), "$1,234.50"),
        (None, "–"),
    ],
)
def test_usd_always_shows_cents(value, shown):
    assert usd(value) == shown
