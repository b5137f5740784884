"""The FHIR action parser: exact parses, and never an exception on any text."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from environments.fhir.protocol import Action, Invalid, parse_action


def test_actions_parse() -> None:
    assert parse_action("GET Patient?name=x") == Action("GET", url="Patient?name=x")
    assert parse_action("```\nGET Observation?code=MG\n```") == Action("GET", url="Observation?code=MG")
    assert parse_action('POST Observation\n{"resourceType": "Observation"}') == Action(
        "POST", url="Observation", body={"resourceType": "Observation"})
    assert parse_action('FINISH([1.5, "x"])') == Action("FINISH", answer=[1.5, "x"])


def test_text_after_a_writes_body_is_returned_unread_not_refused() -> None:
    body = '{"resourceType": "Observation", "status": "final"}'
    parsed = parse_action(f"POST Observation\n{body}\nFINISH([])")
    assert parsed == Action("POST", url="Observation", body=json.loads(body), ignored="FINISH([])")
    assert parse_action(f"POST Observation\n{body}\n").ignored == ""


def test_text_after_a_get_line_is_returned_unread_not_refused() -> None:
    reply = "GET Observation?code=GLU&_sort=-date&_count=1 | If the Bundle's total is 0, FINISH([-1])."
    assert parse_action(reply.replace(" | ", "\n")) == Action(
        "GET", url="Observation?code=GLU&_sort=-date&_count=1", ignored="If the Bundle's total is 0, FINISH([-1]).")
    assert parse_action("GET Patient\n").ignored == ""


def test_invalid_actions_get_a_hint() -> None:
    for text, hint in [
        ("", "Empty reply"),
        ("POST Observation\n{bad", "not valid JSON"),
        ("POST Observation\n[1]", "one JSON object"),
        ("FINISH(1.5)", "JSON list"),
        ("FINISH([1]) and more", "FINISH must look like"),
        ("The answer is 5", "Unknown action"),
    ]:
        parsed = parse_action(text)
        assert isinstance(parsed, Invalid) and hint in parsed.hint, (text, parsed)


@settings(max_examples=500, deadline=None)
@given(st.text() | st.builds(lambda verb, rest: verb + rest, st.sampled_from(["GET ", "POST ", "PUT ", "FINISH(", "```"]),
                             st.text()))
def test_the_parser_never_raises(text: str) -> None:
    assert isinstance(parse_action(text), (Action, Invalid))
