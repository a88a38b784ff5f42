"""The shared OpenAI-compatible client against a local scripted server."""

import pytest

from acdc.llm_client import LLMError, OpenAIClient
from tests.fakes.openai_server import Hang, HttpFailure, serve


def test_chat_returns_text_and_sends_model_and_key():
    with serve(["hello"]) as fake:
        client = OpenAIClient(fake.url, "m1", api_key="secret")
        assert client.chat([{"role": "user", "content": "hi"}], max_tokens=7) == "hello"
    endpoint, body = fake.requests[0]
    assert endpoint == "chat/completions"
    assert body["model"] == "m1" and body["max_tokens"] == 7


def test_chat_content_must_be_text():
    """The server's JSON is untrusted: a reply whose content is not a string is the endpoint's
    failure (LLMError, which every caller handles), not a TypeError in a caller's parser."""
    with serve([None, {"text": "hi"}, ["hi"]]) as fake:
        client = OpenAIClient(fake.url, "m", max_retries=0)
        assert client.chat([{"role": "user", "content": "x"}]) == ""  # no content: an empty reply
        for kind in ("dict", "list"):
            with pytest.raises(LLMError, match=f"content is a {kind}, not text"):
                client.chat([{"role": "user", "content": "x"}])


def test_transient_failures_are_retried():
    with serve([HttpFailure(503), HttpFailure(429), "ok"]) as fake:
        client = OpenAIClient(fake.url, "m", max_retries=2, backoff_s=0.01)
        assert client.chat([{"role": "user", "content": "x"}]) == "ok"
    assert len(fake.requests) == 3


def test_client_error_is_not_retried():
    with serve([HttpFailure(400), "never"]) as fake:
        client = OpenAIClient(fake.url, "m", max_retries=3, backoff_s=0.01)
        with pytest.raises(LLMError, match="HTTP 400"):
            client.chat([{"role": "user", "content": "x"}])
    assert len(fake.requests) == 1


def test_timeout_gives_up_with_clear_error():
    with serve([Hang(1.0), Hang(1.0)]) as fake:
        client = OpenAIClient(fake.url, "m", timeout_s=0.2, max_retries=1, backoff_s=0.01)
        with pytest.raises(LLMError, match="gave up after 2 attempts"):
            client.chat([{"role": "user", "content": "x"}])


def test_embeddings_in_input_order():
    with serve(embed_script=[[[1.0, 0.0], [0.0, 1.0]]]) as fake:
        client = OpenAIClient(fake.url, "e")
        assert client.embed(["a", "b"]) == [[1.0, 0.0], [0.0, 1.0]]


def test_unreachable_server_raises():
    client = OpenAIClient("http://127.0.0.1:9/v1", "m", timeout_s=0.5, max_retries=1, backoff_s=0.01)
    with pytest.raises(LLMError):
        client.chat([{"role": "user", "content": "x"}])
