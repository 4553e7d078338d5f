"""Ask your documents: prompts, citations, sources, context budget and failures, against a real
Milvus Lite file, the bundled MiniLM and a real LLM (SmolLM2-135M behind llama.cpp's server,
the ``llm_url`` fixture). The model is weak: its answers are checked loosely; what omnivec
does around it (retrieval, prompt, sources, citations, streaming, errors) is checked exactly."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError, LLMError
from omnivec.platform.ask import (
    attribute,
    build_prompt,
    citations_in,
    estimate_tokens,
    extract,
    passage_chars,
    question_language,
    says_nothing,
)

UNREACHABLE = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there

DOCS = {
    "pump": "The pump XK-4471-B failed on 3 May because of a cracked seal. Engineers replaced "
    "the seal within two days.",
    "audit": "The auditors found that the company had overstated its revenue by 12 million "
    "dollars in 2021.",
    "stocks": "Stocks fell sharply on Monday after the central bank raised interest rates.",
    "moon": "Astronauts walked on the surface of the moon in July 1969.",
    "pasta": "A simple recipe for fresh pasta needs flour, eggs and a pinch of salt.",
    "rocket": "The rocket launched into orbit carrying a weather satellite.",
}


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    with ov.connect(str(tmp_path_factory.mktemp("ask") / "ask.db")) as p:
        yield p


@pytest.fixture(scope="module")
def docs(plat: ov.Platform) -> ov.Collection:
    col = plat.collection("docs", encoder="text", keywords=True)
    col.add(list(DOCS.values()), ids=list(DOCS), metadata=[{"topic": k} for k in DOCS])
    return col


@pytest.fixture(scope="module")
def small_llm(llm_url: str) -> Any:
    # A generous timeout: a busy CI machine evaluates prompts slowly (no wall-clock checks).
    return ov.llm(base_url=llm_url, max_tokens=24, timeout=900)


# -- pieces without a model -------------------------------------------------------------------


def test_citations_in_reads_the_usual_forms() -> None:
    assert citations_in("It failed [2]. Revenue was overstated [1][2].", 3) == [2, 1]
    assert citations_in("See [1, 3] and 【2】 and [source 3].", 3) == [1, 3, 2]
    assert citations_in("Ranges [1-3] count.", 3) == [1, 2, 3]
    assert citations_in("Out of range [4] and [0] are ignored; [x] is not a citation.", 3) == []
    assert citations_in("No citations at all.", 3) == []


def test_attribute_credits_the_passage_holding_the_answer() -> None:
    passages = [
        "Bumblebee 5 is set to win the overall handicap honours.",
        "The national road toll for the holiday period stands at 45.",
        "Wild storms blacked out homes in south-east Queensland.",
    ]
    question = "What was the national road toll for the holiday period?"
    # No [n] written: the passage with the answer's new words (45) is attributed.
    assert attribute("The national road toll was 45.", question, passages) == [2]
    # A written citation that supports the answer is enough; one that does not gets company.
    assert attribute("The national road toll was 45. [2]", question, passages, [2]) == []
    assert attribute("The national road toll was 45. [1]", question, passages, [1]) == [2]
    # An answer no passage holds (a refusal, a made-up fact) is attributed to nothing.
    assert attribute("I do not know.", question, passages) == []
    assert attribute("The toll was 97 deaths on rural roads.", question, passages) == []
    # Chinese: pairs of Han characters and numbers; "根据资料" (according to the sources) is ignored.
    zh = ["京沪高铁全长1318公里。", "野生大熊猫约有1864只。"]
    assert attribute("根据资料，野生大熊猫约有1864只。", "野生大熊猫大约有多少只？", zh) == [2]


def test_a_reply_that_says_nothing_is_answered_from_the_passage() -> None:
    question = "To what speed limit did police reduce the Hume Highway?"
    assert says_nothing("[1]", question) and says_nothing(f"{question} [2]", question)
    assert not says_nothing("Police reduced it to 80 km/h. [1]", question)
    assert says_nothing("根据资料 [1]", "少林寺位于哪个省？")
    passage = (
        "Some roads are closed because of smoke. Police have reduced the speed limit on the "
        "Hume Highway to 80. Picton Road is closed."
    )
    assert (
        extract(question, passage)
        == "Police have reduced the speed limit on the Hume Highway to 80."
    )


def test_prompt_widens_a_one_sentence_passage_to_its_neighbours() -> None:
    text = (
        "The next few hours are crucial for firefighters in the Blue Mountains. Firefighters "
        "are working on a 25 kilometre fire front. " + "Later sentences follow here. " * 30
    )
    first = text.index(".") + 1
    hit = ov.Hit("fire", 1.0, {}, text, text[:first], span=(0, first))
    _, prompt, _ = build_prompt("How long is the fire front?", [hit], 4000)
    assert "25 kilometre fire front." in prompt
    shown = prompt.split("Source [1] (id: fire):\n")[1].split("\n")[0]
    assert len(shown) <= passage_chars(0) and shown.startswith("The next few hours")


def test_question_language_by_script() -> None:
    assert question_language("iPhone 15 的售价是多少？") == "Chinese"
    assert question_language("東京タワーはいつ建てられましたか") == "Japanese"
    assert question_language("What did the auditors find?") is None


def test_llm_contacts_nothing_and_checks_its_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIVEC_TEST_KEY", "sk-test-very-secret-0123456789")
    m = ov.llm(model="qwen", base_url="http://127.0.0.1:9", api_key_env="OMNIVEC_TEST_KEY")
    assert m.base_url == "http://127.0.0.1:9/v1"  # a bare host:port means its /v1 API
    assert "very-secret" not in repr(m) and "very-secret" not in str(m.to_dict())
    with pytest.raises(InvalidInputError):
        ov.llm(base_url="ftp://example.org")
    with pytest.raises(InvalidInputError):
        ov.llm(base_url="http://user:pw@127.0.0.1:8080/v1")
    with pytest.raises(InvalidInputError):
        ov.llm(base_url=UNREACHABLE, max_tokens=0)


def test_prompt_numbers_passages_in_order_and_drops_the_weakest_first() -> None:
    hits = [ov.Hit(key, 1.0 - i / 10, {}, text, text) for i, (key, text) in enumerate(DOCS.items())]
    messages, prompt, kept = build_prompt("Why did the pump fail?", hits, 4000)
    assert [h.id for h in kept] == list(DOCS)
    assert [m["role"] for m in messages] == ["system", "user"]
    for n, (key, text) in enumerate(DOCS.items(), 1):
        assert f"Source [{n}] (id: {key}):\n{text}" in messages[0]["content"]
    assert prompt.index("Source [1]") < prompt.index("Source [2]") < prompt.index("Source [6]")
    assert messages[-1]["content"] == "Why did the pump fail?" and prompt.endswith("fail?")
    full = estimate_tokens(prompt)
    # A budget between the prompts with 2 and 3 passages keeps exactly the two strongest.
    two = estimate_tokens(build_prompt("Why did the pump fail?", hits[:2], 10_000)[1])
    _, small_prompt, small = build_prompt("Why did the pump fail?", hits, two + 5)
    assert [h.id for h in small] == ["pump", "audit"]
    assert estimate_tokens(small_prompt) <= two + 5 < full
    with pytest.raises(InvalidInputError, match="question alone"):
        build_prompt("Why did the pump fail?", hits, 10)


# -- asking a collection ----------------------------------------------------------------------


def test_nothing_relevant_answers_without_calling_the_model(docs: ov.Collection) -> None:
    # The LLM URL is unreachable: had ask called it, this would raise LLMError.
    none = docs.ask("Why did the pump fail?", llm=UNREACHABLE, where='topic == "nothing"')
    assert isinstance(none, ov.Answer)
    assert none.sources == [] and none.citations == [] and none.prompt == ""
    assert "no relevant" in none.text.lower()
    low = docs.ask("Why did the pump fail?", llm=UNREACHABLE, mode="dense", min_score=0.99)
    assert low.sources == []
    assert docs.search("Why did the pump fail?", k=1, mode="dense")[0].score < 0.99
    zh = docs.ask("泵为什么坏了？", llm=UNREACHABLE, where='topic == "nothing"')
    assert question_language(zh.text) == "Chinese"
    streamed = list(docs.ask("Why?", llm=UNREACHABLE, where='topic == "nothing"', stream=True))
    assert len(streamed) == 1 and isinstance(streamed[0], ov.Answer)


def test_unreachable_llm_is_one_line_llm_error(docs: ov.Collection) -> None:
    with pytest.raises(LLMError) as err:
        docs.ask("Why did the pump fail?", llm=UNREACHABLE)
    message = str(err.value)
    assert "\n" not in message and "127.0.0.1:9" in message and "cannot reach" in message
    stream = docs.ask("Why did the pump fail?", llm=ov.llm(base_url=UNREACHABLE), stream=True)
    with pytest.raises(LLMError):
        next(iter(stream))
    assert len(docs) == len(DOCS)


def test_bad_arguments_fail_before_any_request(docs: ov.Collection) -> None:
    with pytest.raises(InvalidInputError):
        docs.ask("", llm=UNREACHABLE)
    with pytest.raises(InvalidInputError):
        docs.ask("Why?", k=0, llm=UNREACHABLE)
    with pytest.raises(InvalidInputError):
        docs.ask("Why?", llm=42)
    with pytest.raises(InvalidInputError):
        docs.ask("Why?", llm=UNREACHABLE, max_context_tokens=10)


class _Refuses(http.server.BaseHTTPRequestHandler):
    """A real HTTP server that refuses every request with 401 and quotes the key it got, as
    some APIs do ("Incorrect API key provided: sk-...")."""

    def do_POST(self) -> None:
        got = self.headers.get("Authorization", "")
        body = f'{{"error": {{"message": "Incorrect API key provided: {got}"}}}}'.encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_the_key_never_reaches_an_error(
    docs: ov.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-omnivec-test-3f9a1c77e2"
    monkeypatch.setenv("OMNIVEC_TEST_KEY", secret)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        m = ov.llm(base_url=url, api_key_env="OMNIVEC_TEST_KEY")
        with pytest.raises(LLMError) as err:
            docs.ask("Why did the pump fail?", llm=m)
        assert "401" in str(err.value) and "OMNIVEC_TEST_KEY" in str(err.value)
        assert secret not in str(err.value) and secret[:12] not in str(err.value)
        monkeypatch.delenv("OMNIVEC_TEST_KEY")
        with pytest.raises(LLMError, match="OMNIVEC_TEST_KEY"):
            docs.ask("Why did the pump fail?", llm=m)
    finally:
        server.shutdown()
        server.server_close()


def test_answer_sources_prompt_and_citations(docs: ov.Collection, small_llm: Any) -> None:
    question = "Why did the pump XK-4471-B fail?"
    expected = docs.search(question, k=3)
    ans = docs.ask(question, k=3, llm=small_llm)
    assert isinstance(ans, ov.Answer) and ans.text.strip()
    # Every retrieved passage went into the prompt, numbered in retrieval order.
    assert [h.id for h in ans.sources] == [h.id for h in expected]
    assert ans.sources[0].id == "pump"
    payload = ans.to_dict()
    for n, (hit, shown) in enumerate(zip(ans.sources, payload["sources"], strict=True), 1):
        assert f"Source [{n}] (id: {hit.id}):\n{shown['passage']}" in ans.prompt
        assert hit.passage is not None and hit.passage in shown["passage"]
    assert question in ans.prompt
    assert all(1 <= n <= len(ans.sources) for n in ans.citations)
    # Each cited number was written in the answer or attributed to it (see attribute()).
    written = citations_in(ans.text, len(ans.sources))
    by_id = [n for n, h in enumerate(ans.sources, 1) if h.id in ans.text]
    assert set(ans.attributed) <= set(ans.citations) <= {*written, *by_id, *ans.attributed}
    assert [s["n"] for s in payload["sources"]] == [1, 2, 3]
    assert payload["attributed"] == ans.attributed


def test_stream_yields_pieces_then_the_answer(docs: ov.Collection, small_llm: Any) -> None:
    arrivals: list[tuple[float, Any]] = []
    for item in docs.ask("What did the auditors find?", k=2, llm=small_llm, stream=True):
        arrivals.append((time.perf_counter(), item))
    *pieces, (end, answer) = arrivals
    assert isinstance(answer, ov.Answer)
    assert pieces and all(isinstance(p, str) for _, p in pieces)
    assert pieces[0][0] < end  # the first piece came before the answer was complete
    assert answer.text == "".join(p for _, p in pieces).strip()
    assert answer.sources[0].id == "audit"


def test_context_budget_drops_the_weakest_passages(docs: ov.Collection, small_llm: Any) -> None:
    question = "Why did the pump fail?"
    ranked = [h.id for h in docs.search(question, k=6)]
    full = docs.ask(question, k=6, llm=UNREACHABLE, where='topic == "nothing"')
    assert full.sources == []
    # 24 answer tokens + the reserve + about two passages.
    ans = docs.ask(question, k=6, llm=small_llm, max_context_tokens=330)
    assert 1 <= len(ans.sources) < 6
    assert [h.id for h in ans.sources] == ranked[: len(ans.sources)]
    assert estimate_tokens(ans.prompt) <= 330 - 24


def test_a_prompt_over_the_servers_context_is_rebuilt_to_fit(
    plat: ov.Platform, small_llm: Any
) -> None:
    """max_context_tokens claims more than the server has (512): the server refuses the first
    prompt, and ask rebuilds it from the context and token count the refusal names."""
    import gensim

    lee = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"
    news = [line for line in lee.read_text(encoding="utf-8").splitlines() if len(line) > 900]
    col = plat.collection("news", encoder="text")
    col.add([t[:900] for t in news[:12]], ids=[f"n{i}" for i in range(12)])
    question = "What did the firefighters do?"
    ranked = [h.id for h in col.search(question, k=12)]
    ans = col.ask(question, k=12, llm=small_llm, max_context_tokens=16_000)
    assert 1 <= len(ans.sources) < 12
    assert [h.id for h in ans.sources] == ranked[: len(ans.sources)]
    with pytest.raises(LLMError, match="does not fit the context"):
        col.ask(question, k=12, llm=ov.llm(base_url=small_llm.base_url, max_tokens=500))


def test_platform_ask_over_a_fused_search(plat: ov.Platform, docs: ov.Collection) -> None:
    notes = plat.collection("notes", encoder="text")
    notes.add(["Seal cracks in XK pumps come from overheating."], ids=["pump"])
    # No collection's own score reaches 100 (cosine, and hybrid fusion, stay far below).
    none = plat.ask({"docs": "pump", "notes": "pump"}, llm=UNREACHABLE, min_score=100.0)
    assert none.sources == []
    with pytest.raises(LLMError):
        plat.ask({"docs": "Why did the pump fail?", "notes": "pump failure"}, llm=UNREACHABLE)
    with pytest.raises(InvalidInputError):
        plat.ask({"docs": ov.ref("pump")}, llm=UNREACHABLE)


# -- reranking --------------------------------------------------------------------------------


def tiny_cross_encoder(path: Path) -> str:
    """A randomly initialised BERT cross-encoder (one label) saved where CrossEncoder loads it:
    no reranker weights ship on the package index, so this checks the plumbing."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = sorted({w.strip(".,").lower() for t in DOCS.values() for w in t.split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, "why", "did", "fail", "?"]
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"))
    config = BertConfig(
        vocab_size=len(dict.fromkeys(vocab)),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        num_labels=1,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_search_rerank_rescores_with_the_cross_encoder(docs: ov.Collection, tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    model = tiny_cross_encoder(tmp_path / "ce")
    question = "Why did the pump fail?"
    first = docs.search(question, k=6)
    hits = docs.search(question, k=3, rerank=model)
    assert len(hits) == 3
    raw = CrossEncoder(model, device="cpu").predict([(question, h.passage) for h in first])
    by_id = {h.id: float(s) for h, s in zip(first, raw, strict=True)}
    expected = sorted(by_id, key=lambda i: -by_id[i])[:3]
    assert [h.id for h in hits] == expected
    for h in hits:
        assert h.score == pytest.approx(by_id[h.id], abs=1e-5)
        assert h.scores is not None and "retrieval" in h.scores
    assert [h.id for h in docs.search([question], k=3, rerank=model)[0]] == expected
    with pytest.raises(InvalidInputError):
        docs.search(ov.ref("pump"), k=3, rerank=model)
    with pytest.raises(ov.errors.EncoderError):
        docs.search(question, k=3, rerank=str(tmp_path / "no-such-model"))
    # ask(rerank=) puts the reranked order into the prompt (no relevant hit: no model call).
    none = docs.ask(question, llm=UNREACHABLE, rerank=model, where='topic == "nothing"')
    assert none.sources == []


def test_the_best_hit_gets_the_widest_passage() -> None:
    widths = [passage_chars(i) for i in range(6)]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    sentences = [f"Sentence number {i} says something about the harbour bridge." for i in range(40)]
    text = " ".join(sentences)
    middle = text.index("Sentence number 20")
    span = (middle, text.index("Sentence number 21") - 1)
    hits = [
        ov.Hit(name, 1.0, {}, text, text[span[0] : span[1]], span=span) for name in ("a", "b", "c")
    ]
    _, prompt, kept = build_prompt("What about the bridge?", hits, 100_000)
    assert [h.id for h in kept] == ["a", "b", "c"]
    shown = [
        prompt.split(f"Source [{n}] (id: {h}):\n")[1].split("\n")[0] for n, h in enumerate("abc", 1)
    ]
    # Each window is whole sentences around the match, as wide as the hit's rank allows.
    for got, width in zip(shown, widths, strict=False):
        assert text[span[0] : span[1]] in got and len(got) <= width
        assert len(got) > width - 70  # one more whole sentence would not fit
