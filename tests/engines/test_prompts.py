"""Expected text from free prompts: every common quotation convention, nested and mixed."""

import pytest

from apps.engines.prompts import quoted_texts


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Plakat für das Dorffest in Kleinwalde mit dem Schriftzug „SOMMERFEST 2026“", ["SOMMERFEST 2026"]),
        ("Schild „OFFEN”", ["OFFEN"]),  # Polish/Hungarian closing mark
        ("Schild ‚Kasse‘", ["Kasse"]),
        ("un panneau « SOLDES »", ["SOLDES"]),  # French, spaces inside the guillemets
        ("Schild »Zutritt verboten«", ["Zutritt verboten"]),
        ("un panneau ‹ Bonjour ›", ["Bonjour"]),
        ("skylt ›Hej‹", ["Hej"]),
        ("看板に「東京」", ["東京"]),
        ("看板に『大阪』", ["大阪"]),
        ("a sign “OPEN”", ["OPEN"]),
        ("a sign ‘OPEN’", ["OPEN"]),
        ("skylt ”Välkommen”", ["Välkommen"]),
        ('a sign "OPEN"', ["OPEN"]),
        ("a sign 'OPEN'", ["OPEN"]),
    ],
)
def test_quoted_texts_each_quotation_style(prompt, expected):
    assert quoted_texts(prompt) == expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("„Er sagte ‚Hallo‘“", ["Er sagte ‚Hallo‘"]),
        ("“The ‘Best’ Pizza”", ["The ‘Best’ Pizza"]),
        ("« il dit “oui” »", ["il dit “oui”"]),
        ("「外『内』外」", ["外『内』外"]),
        ("a title \"Joe's 'Famous' Diner\"", ["Joe's 'Famous' Diner"]),
    ],
)
def test_quoted_texts_takes_the_outer_quotation_of_nested_ones_whole(prompt, expected):
    assert quoted_texts(prompt) == expected


def test_quoted_texts_mixed_styles_in_one_prompt_in_order():
    prompt = 'Poster „SOMMERFEST“, sous-titre « Entrée libre », 看板「東京」 and "2026"'

    assert quoted_texts(prompt) == ["SOMMERFEST", "Entrée libre", "東京", "2026"]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("the shop's sign says 'OPEN' today", ["OPEN"]),
        ("Mama’s sign ‘Joe’s Diner’", ["Joe’s Diner"]),
        ('"Mama\'s Kitchen"', ["Mama's Kitchen"]),
        ("don't 'x", []),
    ],
)
def test_quoted_texts_apostrophes_are_not_quotes(prompt, expected):
    assert quoted_texts(prompt) == expected


@pytest.mark.parametrize("prompt", ["no quotes here", "„never closed", 'empty ""', "“ ”"])
def test_quoted_texts_nothing_to_write(prompt):
    assert quoted_texts(prompt) == []


def test_quoted_texts_each_text_once():
    assert quoted_texts('"SALE" and „SALE“') == ["SALE"]
