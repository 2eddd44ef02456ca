"""Compliance: rule packs that keep non-compliant prompts from ever reaching a video API.

::

    check(prompt, spec=..., packs=..., brand_rules=...) -> ComplianceResult
        structural checks   prompt length and the job's parameters (validate_spec)
        built-in packs      packs/content_policy.yaml, packs/advertising_claims.yaml
        brand rules         a campaign's banned words, competitors, required phrases

A finding with severity ``error`` blocks the prompt (the job is ``rejected`` with its reasons);
``warning`` findings are recorded. Errors in pack files raise :class:`RulePackError`, a
:class:`~reelforge.core.errors.ReelforgeError`.

**Matching.** Prompt and patterns are normalized the same way (``_normalize``): NFKC, casefold,
accents stripped, look-alike letters from Cyrillic and Greek mapped to Latin, and, in a second
view, leetspeak digits and ``@``/``$`` read as letters inside words. Each word pattern then becomes
a regex (``_matcher``) that needs word boundaries on both sides (``secure`` is not ``cure``,
``Scarface`` is not ``scar`` unless the rule sets ``substring: true``), accepts simple inflections
(``cures``, ``cured``, ``curing``), punctuation inside the word (``c.u.r.e.s``, ``cu-res``) and a
word spelled out letter by letter (``c u r e s``), but never joins longer fragments across
whitespace (``it's ex`` is not ``sex``). Matches are reported as spans of the original prompt.

**Decisions.** Characters are matched by full name (``Mickey Mouse``), since ``Mickey`` alone is an
ordinary first name. A bare ``guaranteed`` (``guaranteed delivery window``) is a warning;
``guaranteed results``/``guaranteed to`` are errors. Inflection is plain suffixing; where a form
is also an innocent word, the rule lists its forms instead (``cure``, ``cures``, ``curing``,
``cured of``/``cured my``… but not ``cured ham``).

**Moderation.** :func:`moderate` asks the OpenAI Moderations endpoint about a batch of prompts;
:func:`with_moderation` adds a flagged prompt's categories as ``moderation.<category>`` errors.
"""

from reelforge.compliance._check import ComplianceResult, Finding, Verdict, check
from reelforge.compliance._normalize import normalize
from reelforge.compliance._packs import (
    BUILTIN_PACKS,
    BrandRules,
    Rule,
    RulePack,
    RulePackError,
    Severity,
    load_packs,
)
from reelforge.compliance.moderation import (
    DEFAULT_MODERATION_MODEL,
    ModerationResult,
    moderate,
    with_moderation,
)

__all__ = [
    "BUILTIN_PACKS",
    "DEFAULT_MODERATION_MODEL",
    "BrandRules",
    "ComplianceResult",
    "Finding",
    "ModerationResult",
    "Rule",
    "RulePack",
    "RulePackError",
    "Severity",
    "Verdict",
    "check",
    "load_packs",
    "moderate",
    "normalize",
    "with_moderation",
]
