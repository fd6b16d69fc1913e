"""Chat-shaped workloads: multi-turn history and shared-prefix sets, checked message by message."""

import pytest
from pydantic import ValidationError

from deploybench import workloads
from deploybench.schemas import ConfigError, MultiTurnWorkload, SharedPrefixWorkload, Workload
from deploybench.sweep.plan import validate_study


def _mt(**kw):
    return workloads.multi_turn(MultiTurnWorkload(**{"sessions": 3, "turns": 4, **kw}))


def test_turn_k_holds_turns_1_to_k_minus_1_and_a_new_user_turn():
    ps = _mt(think_s=2.5)
    assert [(p.session, p.turn) for p in ps] == [(s, t) for s in range(3) for t in range(4)]  # session by session
    by = {(p.session, p.turn): p for p in ps}
    for s in range(3):
        for t in range(4):
            msgs = by[s, t].messages
            assert len(msgs) == 2 * t + 1
            assert [m["role"] for m in msgs] == ["user", "assistant"] * t + ["user"]
            if t:  # every earlier turn, user and assistant, exactly as the previous prompt sent it (+ its answer)
                prev = by[s, t - 1].messages
                assert msgs[:len(prev)] == prev
            # the new user turn is one no earlier prompt of the session carried
            assert msgs[-1]["content"].startswith(f"#{s}.{t}:")
            assert all(msgs[-1] != m for m in msgs[:-1])
            assert by[s, t].think_s == (2.5 if t else 0.0)
            assert by[s, t].id == f"mt-s{s}-t{t}"
    # sessions share no history: first user turns differ from the first word on
    firsts = [by[s, 0].messages[0]["content"].split()[0] for s in range(3)]
    assert len(set(firsts)) == 3


def test_multi_turn_lengths_and_text():
    ps = _mt(user_tokens=130, answer_tokens=260)
    last = ps[3]
    user_words = [len(m["content"].split()) for m in last.messages if m["role"] == "user"]
    answer_words = [len(m["content"].split()) for m in last.messages if m["role"] == "assistant"]
    assert all(abs(n - 100) <= 1 for n in user_words)  # 130 tokens / 1.3 tokens per word
    assert all(abs(n - 200) <= 1 for n in answer_words)
    assert last.approx_tokens == 3 * (130 + 260) + 130
    # a completions endpoint gets the whole conversation as text
    assert all(m["content"] in last.text for m in last.messages) and last.text.startswith("User: ")
    assert workloads.multi_turn(MultiTurnWorkload(sessions=3, turns=4)) == _mt()  # seeded: the same every run


def test_shared_prefix_prompts_share_exactly_their_prefix():
    cfg = SharedPrefixWorkload(prefixes=3, users_per_prefix=4, prefix_tokens=1300, suffix_tokens=26)
    ps = workloads.load_prompts(cfg)
    assert len(ps) == 12
    # round-robin over prefixes: neighbours never share one
    assert [p.id for p in ps[:4]] == ["sp-p0-u0", "sp-p1-u0", "sp-p2-u0", "sp-p0-u1"]
    system = {p.id: p.messages[0]["content"] for p in ps}
    question = {p.id: p.messages[1]["content"] for p in ps}
    for p in ps:
        k = p.id.split("-")[1]
        same = [q for q in ps if q.id.split("-")[1] == k]
        assert len(same) == 4 and all(system[q.id] == system[p.id] for q in same)
        assert [m["role"] for m in p.messages] == ["system", "user"]
        assert p.text == system[p.id] + "\n\n" + question[p.id]
        assert abs(len(system[p.id].split()) - 1000) <= 1 and abs(len(question[p.id].split()) - 20) <= 1
    prefixes = sorted(set(system.values()))
    assert len(prefixes) == 3
    # different prefixes part at the head; every question is unique
    assert len({s.split()[2] for s in prefixes}) == 3
    assert len(set(question.values())) == 12


def test_unique_prefixes_share_nothing_but_keep_lengths_and_questions():
    shared = workloads.shared_prefix(SharedPrefixWorkload(prefixes=2, users_per_prefix=3, prefix_tokens=1300))
    unique = workloads.shared_prefix(SharedPrefixWorkload(prefixes=2, users_per_prefix=3, prefix_tokens=1300,
                                                          unique_prefixes=True))
    systems = [p.messages[0]["content"] for p in unique]
    assert len(set(systems)) == 6 and len({s.split()[2] for s in systems}) == 6  # parted within 3 words
    assert [p.messages[1] for p in unique] == [p.messages[1] for p in shared]  # same questions: a fair A/B
    assert [len(p.messages[0]["content"].split()) for p in unique] == \
        [len(p.messages[0]["content"].split()) for p in shared]
    assert unique[0].id == "sp-p0.0-u0" and unique[-1].id == "sp-p1.2-u2"


def test_chat_sources_in_a_study_and_bad_values():
    w = Workload.model_validate({"source": {"kind": "multi-turn", "sessions": 2, "turns": 3, "think_s": 1}})
    assert isinstance(w.source, MultiTurnWorkload) and len(workloads.load_prompts(w.source)) == 6
    w = Workload.model_validate({"source": {"kind": "shared-prefix", "prefixes": 2, "users_per_prefix": 2}})
    assert len(workloads.load_prompts(w.source)) == 4
    with pytest.raises(ValidationError):
        MultiTurnWorkload(turns=0)
    with pytest.raises(ValidationError):
        SharedPrefixWorkload(prefix_tokens=0)


@pytest.mark.parametrize("source, field", [
    ({"kind": "multi-turn", "sessions": 0}, "workload.source.sessions"),
    ({"kind": "shared-prefix", "prefix_tokenz": 5}, "workload.source.prefix_tokenz"),
    ({"kind": "multi-turn", "think_s": -1}, "workload.source.think_s"),
])
def test_bad_chat_source_in_a_study_is_one_line_naming_the_field(source, field):
    with pytest.raises(ConfigError) as e:
        validate_study({"name": "s", "workload": {"source": source}}, "s.yaml")
    assert f"s.yaml: {field}:" in str(e.value) and "\n" not in str(e.value)


def test_unknown_workload_kind_names_the_workload_kinds():
    with pytest.raises(ConfigError) as e:
        validate_study({"name": "s", "workload": {"source": {"kind": "multiturn"}}}, "s.yaml")
    assert "workload.source" in str(e.value) and "multi-turn or shared-prefix" in str(e.value)
