"""Bad campaign files: every problem is a CampaignError naming the field and the line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reelforge.campaign import Campaign, CampaignError
from reelforge.core.errors import InvalidSpecError

WriteCampaign = Callable[[str], Path]


def _error(write_campaign: WriteCampaign, text: str) -> CampaignError:
    path = write_campaign(text)
    with pytest.raises(CampaignError) as caught:
        Campaign.load(path).plan()
    return caught.value


def test_is_an_invalid_spec_error(write_campaign: WriteCampaign, matrix: str) -> None:
    error = _error(write_campaign, matrix.replace("gender: [female, male]", "gender: []"))

    assert isinstance(error, InvalidSpecError)


def test_unknown_template_variable_is_named_with_the_known_ones(
    write_campaign: WriteCampaign, matrix: str
) -> None:
    text = matrix.replace("enjoys a cold can.", "enjoys a {{ flavour }} can.")

    error = _error(write_campaign, text)

    assert error.field == "template"
    assert error.line == 18
    assert error.value == "flavour"
    assert error.allowed == (
        "aesthetic",
        "age_generation",
        "big_idea",
        "brand",
        "campaign",
        "gender",
        "product_category",
        "type",
    )
    assert "campaign.yaml:18: template: unknown variable 'flavour'; known variables:" in str(error)


def test_variable_set_inside_the_template_is_not_unknown(
    write_campaign: WriteCampaign, matrix: str
) -> None:
    text = matrix.replace(
        "enjoys a cold can.", "{% set mood = 'sunny' %}enjoys a {{ mood }} can."
    ).replace("limit: 20\n", "")

    plan = Campaign.load(write_campaign(text)).plan()

    assert plan.combinations[0].prompt.endswith("enjoys a sunny can.")


def test_dimension_with_no_values(write_campaign: WriteCampaign, matrix: str) -> None:
    error = _error(write_campaign, matrix.replace("gender: [female, male]", "gender: []"))

    assert error.field == "dimensions.gender"
    assert error.line == 10
    assert "has no values" in str(error)


def test_override_naming_an_unknown_dimension(write_campaign: WriteCampaign, matrix: str) -> None:
    text = matrix.replace("when: {type: testimonial}", "when: {format: testimonial}")

    error = _error(write_campaign, text)

    assert error.field == "overrides.0.when.format"
    assert error.line == 12
    assert error.allowed == ("aesthetic", "type", "age_generation", "gender")
    assert "unknown dimension 'format'" in str(error)


def test_override_naming_an_unknown_value(write_campaign: WriteCampaign, matrix: str) -> None:
    error = _error(write_campaign, matrix.replace("when: {type: testimonial}", "when: {type: ugc}"))

    assert error.field == "overrides.0.when.type"
    assert error.allowed == ("product hero", "lifestyle", "testimonial")
    assert "dimension 'type' has no value 'ugc'" in str(error)


def test_exclusion_naming_unknown_dimension_and_value_reports_both(
    write_campaign: WriteCampaign, matrix: str
) -> None:
    text = matrix.replace(
        "{aesthetic: pastel minimal, type: testimonial}", "{aesthetic: neon, mood: calm}"
    )

    error = _error(write_campaign, text)

    assert [(issue.field, issue.line) for issue in error.errors] == [
        ("exclude.0.aesthetic", 15),
        ("exclude.0.mood", 15),
    ]
    assert "(2 errors in all)" in str(error)


@pytest.mark.parametrize(
    ("size", "allowed", "words"),
    [
        ('"1:1"', ("9:16", "16:9", "720x1280", "1280x720"), "'1:1' is not supported by sora-2"),
        ("1024x1792", ("720x1280", "1280x720"), "1024x1792 needs sora-2-pro"),
    ],
)
def test_invalid_size_in_an_override(
    write_campaign: WriteCampaign,
    matrix: str,
    size: str,
    allowed: tuple[str, ...],
    words: str,
) -> None:
    error = _error(write_campaign, matrix.replace('set: {size: "9:16"}', f"set: {{size: {size}}}"))

    assert error.field == "overrides.0.set.size"
    assert error.line == 13
    assert error.allowed == allowed
    assert words in str(error)


def test_invalid_seconds_in_defaults(write_campaign: WriteCampaign, matrix: str) -> None:
    error = _error(write_campaign, matrix.replace("seconds: 8", "seconds: 7"))

    assert error.field == "defaults.seconds"
    assert error.allowed == ("4", "8", "12")


def test_template_syntax_error_gives_the_template_line(
    write_campaign: WriteCampaign, matrix: str
) -> None:
    text = matrix.replace(
        "template: >\n  {{ aesthetic }}", "template: |\n  {{ aesthetic }}"
    ).replace("enjoys a cold can.", "enjoys a {{ gender }} can.\n  {% if gender %} open")

    error = _error(write_campaign, text)

    assert error.field == "template"
    assert error.line == 18
    assert "syntax error on template line 3" in str(error)


def test_sandbox_refuses_unsafe_attribute_access(
    write_campaign: WriteCampaign, matrix: str
) -> None:
    text = matrix.replace("enjoys a cold can.", "{{ ''.__class__.__mro__ }}")

    error = _error(write_campaign, text)

    assert error.field == "template"
    assert "the template does something unsafe" in str(error)
    assert "__class__" in str(error)


def test_unsafe_access_reached_only_by_a_later_combination_fails_the_plan(
    write_campaign: WriteCampaign, matrix: str
) -> None:
    text = matrix.replace(
        "enjoys a cold can.", "{% if gender == 'male' %}{{ gender.__class__.__bases__ }}{% endif %}"
    )
    campaign = Campaign.load(write_campaign(text))

    with pytest.raises(CampaignError, match="does something unsafe"):
        campaign.plan()


def test_unknown_fields_list_the_known_fields_of_their_own_mapping(
    write_campaign: WriteCampaign, matrix: str
) -> None:
    text = matrix.replace("seed: 7", "seed: 7\nsede: 3").replace(
        "{provider: openai,", "{provder: openai,"
    )

    error = _error(write_campaign, text)

    fields = {issue.field: issue for issue in error.errors}
    assert fields["defaults.provder"].line == 5
    assert fields["defaults.provder"].allowed is not None
    assert "provider" in fields["defaults.provder"].allowed
    assert fields["sede"].line == 18
    assert fields["sede"].allowed is not None
    assert "seed" in fields["sede"].allowed


@pytest.mark.parametrize(
    ("change", "field", "line", "words"),
    [
        (("limit: 20", "limit: 0"), "limit", 16, "must be at least 1"),
        (("seed: 7", "seed: 7\nseed: 9"), "seed", 18, "duplicate key; first set on line 17"),
        (("  gender:", "  brand:"), "dimensions.brand", 10, "is reserved"),
        (("  gender:", "  gender-x:"), "dimensions.gender-x", 10, "template variable name"),
        (("[female, male]", "[female, female]"), "dimensions.gender.1", 10, "listed twice"),
        (("[female, male]", "[1, male]"), "dimensions.gender.0", 10, "must be a string"),
        (("brand: Acme\n", ""), "brand", None, "is required"),
        (("  - {aesthetic", "  - {}\n  - {aesthetic"), "exclude.0", 15, "at least one"),
        (("seed: 7", "seed: 7\nlimit: [20"), "syntax", 19, "invalid YAML"),
    ],
)
def test_other_bad_files(
    write_campaign: WriteCampaign,
    matrix: str,
    change: tuple[str, str],
    field: str,
    line: int | None,
    words: str,
) -> None:
    error = _error(write_campaign, matrix.replace(*change))

    assert error.field == field
    assert error.line == line
    assert words in str(error)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match="no such file"):
        Campaign.load(tmp_path / "nope.yaml")


def test_not_a_mapping(write_campaign: WriteCampaign) -> None:
    with pytest.raises(CampaignError, match="must be a mapping"):
        Campaign.load(write_campaign("- just\n- a list\n"))


def test_prompt_too_long_for_the_model_fails_the_plan_naming_the_combination(
    write_campaign: WriteCampaign, matrix: str
) -> None:
    text = matrix.replace(
        "enjoys a cold can.",
        "{% if type == 'lifestyle' %}{{ 'x' * 40000 }}{% endif %}enjoys a cold can.",
    ).replace("limit: 20\n", "")
    campaign = Campaign.load(write_campaign(text))

    with pytest.raises(CampaignError) as caught:
        campaign.plan()

    assert caught.value.field == "template"
    assert len(caught.value.errors) == 12  # every lifestyle combination
    assert "combination cinematic-lifestyle-gen-z-female: prompt" in str(caught.value)
    assert "at most 32000 allowed" in str(caught.value)
