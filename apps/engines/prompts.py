import re

QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|(?<![\w])'([^']+?)'(?![\w])")


def quoted_texts(prompt: str) -> list[str]:
    """Texts a prompt asks to be written ("double", “curly” or 'single' quoted), each once."""
    found = [next(g for g in m.groups() if g) for m in QUOTED.finditer(prompt)]
    return list(dict.fromkeys(t.strip() for t in found if t.strip()))
