"""Small statistics shared by the metrics and the harness."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Percentiles:
    """Nearest-rank percentiles of `n` values, in milliseconds (None when n == 0)."""

    n: int
    p50: float | None
    p95: float | None
    p99: float | None


NO_VALUES = Percentiles(0, None, None, None)


def percentiles(values: list[float]) -> Percentiles:
    """Nearest-rank p50/p95/p99 of `values` (any unit; returned as given)."""
    if not values:
        return NO_VALUES
    ordered = sorted(values)

    def rank(p: float) -> float:
        index = max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))
        return ordered[int(index)]

    return Percentiles(len(ordered), rank(50), rank(95), rank(99))


def percentile_interpolated(values: list[float], q: float) -> float:
    """The `q` quantile (0–1) of `values`, interpolated between ranks (numpy's "linear");
    NaN with no values. For benchmark reports, where a few samples should not jump a rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
