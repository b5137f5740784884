"""The writer's prompts, as named templates in ``grasp/improve/prompts/*.md``.

Prose lives in files, so a prompt can be read, diffed and changed without touching code, and tests check what
a prompt carries (the environment's words, the placeholders, the example) rather than its wording. A template
is :class:`string.Template` text (``${name}`` fields); a file's final newline is not part of its prompt.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from string import Template


@cache
def _template(name: str) -> Template:
    text = files(__package__).joinpath("prompts", f"{name}.md").read_text(encoding="utf-8")
    return Template(text.removesuffix("\n"))


def prompt(template: str, /, **fields: object) -> str:
    """The template named ``template`` with ``fields`` filled in; a missing field is a KeyError naming it."""
    return _template(template).substitute(fields)
