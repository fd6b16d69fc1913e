"""OpenAI stream events -> Draft: token counting per event, output of every kind, wrong shapes."""

import json

import pytest

from deploybench.protocols.base import Draft
from deploybench.protocols.openai import OpenAIClient
from deploybench.schemas import Endpoint


def client(chat=True) -> OpenAIClient:
    return OpenAIClient(Endpoint(url="http://127.0.0.1:1"), session=None, chat=chat)


def feed(events, chat=True) -> Draft:
    d, c = Draft(), client(chat)
    for ts, ev in enumerate(events, start=1):
        c._event(ts * 10, ev if isinstance(ev, str) else json.dumps(ev), d)
        if d.error:
            break
    return d


def delta(**kw):
    return {"choices": [{"index": 0, "delta": kw}]}


@pytest.mark.parametrize("event,where", [
    ({"choices": [None]}, "choices"),
    ({"choices": [{"delta": "text"}]}, "choices"),
    ({"choices": [{"delta": {"content": 5}}]}, "choices"),
    ({"choices": "abc"}, "choices"),
    ({"choices": [], "usage": [1, 2]}, "usage"),
    ({"choices": [], "usage": "16"}, "usage"),
])
def test_valid_json_of_the_wrong_shape_is_an_error_not_an_exception(event, where):
    d = feed([delta(content="a"), event])
    assert d.error and d.error.startswith(f"malformed event ({where})"), d.error


def test_wrong_shape_in_completions_text():
    d = feed([{"choices": [{"text": ["a"]}]}], chat=False)
    assert d.error and d.error.startswith("malformed event (choices)")


def test_reasoning_and_tool_calls_are_output_first_content_is_separate():
    d = feed([delta(role="assistant", content=""), delta(reasoning_content="think"), delta(reasoning="more"),
              delta(tool_calls=[{"index": 0, "function": {"name": "f", "arguments": ""}}]),
              delta(content="answer"), {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}])
    assert d.error is None
    assert d.chunk_ns == [20, 30, 40, 50] and d.chunk_tokens == [1, 1, 1, 1]
    assert d.first_content_ns == 50 and d.text_parts == ["answer"]
    assert d.output_tokens == 4 and d.input_tokens == 3 and d.token_source == "usage"


def test_running_usage_count_gives_tokens_per_event():
    ev = lambda text, n: {**delta(content=text), "usage": {"prompt_tokens": 1, "completion_tokens": n}}  # noqa: E731
    d = feed([ev(" a b c", 3), ev(" d", 4), ev(" e f", 6), {"choices": [], "usage": {"prompt_tokens": 1,
                                                                                     "completion_tokens": 6}}])
    assert d.chunk_tokens == [3, 1, 2] and d.output_tokens == 6


def test_logprobs_give_tokens_per_event():
    chat = {"choices": [{"delta": {"content": "ab"}, "logprobs": {"content": [{"token": "a"}, {"token": "b"}]}}]}
    comp = {"choices": [{"text": "abc", "logprobs": {"tokens": ["a", "b", "c"]}}]}
    assert feed([chat]).chunk_tokens == [2]
    assert feed([comp], chat=False).chunk_tokens == [3]


def test_plain_events_count_one_token_each():
    d = feed([delta(content="a"), delta(content="bc"), {"choices": [], "usage": {"completion_tokens": 5}}])
    assert d.chunk_tokens == [1, 1] and d.output_tokens == 5  # the mismatch is the summary's to report


def test_running_usage_is_requested_only_where_the_server_supports_it():
    from deploybench.protocols.base import GenParams, Prompt

    p = Prompt(id="0", text="hi")
    assert "continuous_usage_stats" not in client().body(p, GenParams())["stream_options"]
    vllm = OpenAIClient(Endpoint(url="http://127.0.0.1:1", usage_per_event=True), session=None)
    assert vllm.body(p, GenParams())["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
