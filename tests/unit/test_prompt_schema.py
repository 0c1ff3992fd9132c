from pathlib import Path

import pytest

from core import prompt
from core.schema import Description, DescriptionParseError, description_json_schema, parse_description, render_target

SHARED_PROMPT = Path(__file__).resolve().parents[3] / "shared" / "data" / "paper_prompt.txt"


def test_paper_prompt_ends_with_the_series():
    text = prompt.user_prompt(["07", "12", "99"], "paper")
    assert text.startswith("Describe the time series in three sentences.")
    assert text.endswith(" Series: [07, 12, 99]")
    assert '{ "trend": <sentence1>,' in text


@pytest.mark.skipif(not SHARED_PROMPT.exists(), reason="shared/ not beside the checkout")
def test_paper_prompt_is_the_companion_datas_text_without_the_think_tag():
    companion = SHARED_PROMPT.read_text().replace("/think ", "").lstrip("\n")
    assert prompt.PAPER_INSTRUCTION.strip() == companion.strip()


def test_compact_prompt_is_shorter():
    tokens = ["42"] * 128
    assert len(prompt.user_prompt(tokens, "compact")) < 0.6 * len(prompt.user_prompt(tokens, "paper"))


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="unknown prompt style"):
        prompt.user_prompt(["01"], "verbose")


def test_series_from_prompt_reads_the_paper_format():
    assert prompt.series_from_prompt(prompt.user_prompt(["07", "12", "99"])) == [7, 12, 99]


def test_messages_are_one_user_turn():
    messages = prompt.build_messages(["01", "02"], "paper")
    assert [m["role"] for m in messages] == ["user"]


def test_schema_requires_exactly_three_string_fields():
    schema = description_json_schema()
    assert set(schema["required"]) == {"trend", "noise", "extrema"}
    assert schema["additionalProperties"] is False
    assert all(schema["properties"][f]["type"] == "string" for f in ("trend", "noise", "extrema"))


def test_parse_description_accepts_valid_json():
    d = parse_description('{"trend": "Up.", "noise": "Low.", "extrema": "Max at end."}')
    assert d.trend == "Up."


@pytest.mark.parametrize(
    "text",
    ['{"trend": "Up.", "noise": "Low."}', '{"trend": "", "noise": "a", "extrema": "b"}', "not json",
     '{"trend": "a", "noise": "b", "extrema": "c", "extra": "d"}'],
)
def test_parse_description_rejects_invalid(text):
    with pytest.raises(DescriptionParseError):
        parse_description(text)


def test_render_target_is_compact_json_in_field_order():
    d = Description(trend="Up.", noise="Low.", extrema="Max at end.")
    assert render_target(d) == '{"trend":"Up.","noise":"Low.","extrema":"Max at end."}'


def test_rows_prompt_puts_each_quarter_of_the_series_on_its_own_line():
    tokens = [f"{i % 100:02d}" for i in range(128)]
    text = prompt.user_prompt(tokens, "rows")
    lines = text.split("Series:\n")[1].split("\n")
    assert len(lines) == 4 and all(len(line.split(" ")) == 32 for line in lines)
    assert lines[1].split(" ")[0] == "32" and lines[3].split(" ")[-1] == "27"
    assert prompt.user_prompt(tokens, "rows").replace("\n", " ") == prompt.user_prompt(tokens, "compact").replace(
        "Series: ", "Series: ").replace("\n", " ")


def test_dense_prompt_runs_two_digit_levels_together():
    tokens = ["07", "12", "99", "00"]
    text = prompt.user_prompt(tokens, "dense")
    assert text == prompt.COMPACT_INSTRUCTION + "Series: 07129900"
    digits = text.split("Series: ")[1]
    assert [digits[i : i + 2] for i in range(0, len(digits), 2)] == tokens
