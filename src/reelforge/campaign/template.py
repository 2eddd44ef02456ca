"""The prompt template: a sandboxed Jinja2 environment where an unknown name is an error."""

from __future__ import annotations

from collections.abc import Mapping

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["TemplateProblem", "compile_template", "render", "undeclared"]

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class TemplateProblem(Exception):
    """The template cannot be used; ``line`` is the template's own 1-based line, if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def compile_template(source: str) -> Template:
    """Parse ``source``; raises :class:`TemplateProblem` for a syntax error."""
    try:
        return _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"syntax error on template line {exc.lineno}: {exc.message}", exc.lineno
        ) from exc


def undeclared(source: str) -> set[str]:
    """Every name the template reads from its context (its own ``set``/loop names excluded)."""
    return set(meta.find_undeclared_variables(_ENV.parse(source)))


def render(template: Template, context: Mapping[str, str]) -> str:
    """The prompt for ``context``, whitespace collapsed; raises :class:`TemplateProblem`."""
    try:
        text = template.render(dict(context))
    except SecurityError as exc:
        raise TemplateProblem(f"the template does something unsafe: {exc}") from exc
    except TemplateError as exc:
        raise TemplateProblem(f"cannot render the template: {exc}") from exc
    except Exception as exc:  # e.g. ZeroDivisionError inside an expression
        raise TemplateProblem(f"cannot render the template: {type(exc).__name__}: {exc}") from exc
    return " ".join(text.split())
