from apps.verification.gate import GateReport
from apps.verification.models import VerificationResult


def verification_record(*, report: GateReport, expected: dict[str, str]) -> VerificationResult:
    """Store a gate report."""
    return VerificationResult.objects.create(
        expected=expected,
        ocr_text=report.ocr_text,
        words=report.words,
        checks=report.checks_as_dicts(),
        verdict=report.verdict,
        reasons=report.reasons,
        backend=report.backend,
        seconds=report.seconds,
    )
