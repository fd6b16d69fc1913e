"""Trace files: each public shape's sample reproduces the same arrivals and lengths; bad files are one line."""

from pathlib import Path

import pytest

from deploybench import workloads
from deploybench.schemas import ConfigError
from deploybench.workloads import TraceRow, read_trace, trace_prompts

DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# the same five requests written in each shape (tests/data/trace-*): arrivals relative to the first row
EXPECTED = [TraceRow(0.0, 120, 50), TraceRow(0.5, 800, 200), TraceRow(0.5, 45, 12), TraceRow(1.25, 300, 80),
            TraceRow(3.0, 1500, 5)]


@pytest.mark.parametrize("name, shape", [
    ("trace-native.jsonl", "native"), ("trace-burstgpt.csv", "burstgpt"),  # BurstGPT: seconds, starts at 12
    ("trace-azure.csv", "azure"),  # datetime text with 100 ns ticks
    ("trace-mooncake.jsonl", "mooncake"),  # milliseconds
])
def test_each_shape_reproduces_arrivals_and_lengths(name, shape):
    assert read_trace(DATA / name, shape=shape) == EXPECTED
    assert read_trace(DATA / name) == EXPECTED  # the shape is recognised from the header / first object


def test_native_alias_custom_columns_and_example():
    assert read_trace(DATA / "trace-native.jsonl", shape="jsonl") == EXPECTED
    rows = read_trace(EXAMPLES / "trace-sample.jsonl")
    assert rows[0].arrival_s == 0.0 and len(rows) == 8
    assert all(a.arrival_s <= b.arrival_s for a, b in zip(rows, rows[1:]))


def test_column_mapping(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("t,prompt_len,gen_len\n100.0,10,3\n100.25,20,4\n")
    rows = read_trace(p, columns={"timestamp": "t", "input_tokens": "prompt_len", "output_tokens": "gen_len"})
    assert rows == [TraceRow(0.0, 10, 3), TraceRow(0.25, 20, 4)]
    with pytest.raises(ConfigError, match="columns: unknown key 'ts'"):
        read_trace(p, columns={"ts": "t"})


def _error(tmp_path, name: str, text: str, **kw) -> str:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        read_trace(p, **kw)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg and " — " in msg  # one line: the file, the problem, the fix
    return msg


def test_bad_files_give_one_line_errors(tmp_path):
    msg = _error(tmp_path, "unsorted.jsonl", '{"timestamp": 2, "input_tokens": 1, "output_tokens": 1}\n'
                 '{"timestamp": 1, "input_tokens": 1, "output_tokens": 1}\n')
    assert "unsorted.jsonl:2: column 'timestamp'" in msg and "sort the file by 'timestamp'" in msg
    msg = _error(tmp_path, "neg.jsonl", '{"timestamp": -1, "input_tokens": 1, "output_tokens": 1}\n')
    assert "neg.jsonl:1: column 'timestamp': negative" in msg
    msg = _error(tmp_path, "nolen.csv", "Timestamp,Request tokens\n1,5\n", shape="burstgpt")
    assert "nolen.csv:2: column 'Response tokens' missing" in msg and "columns: {output_tokens: <name>}" in msg
    msg = _error(tmp_path, "nolen.jsonl", '{"timestamp": 0, "output_tokens": 3}\n')
    assert "nolen.jsonl:1: column 'input_tokens' missing" in msg
    msg = _error(tmp_path, "empty.jsonl", "\n\n")
    assert "empty trace" in msg
    msg = _error(tmp_path, "empty.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n", shape="azure")
    assert "empty trace" in msg
    msg = _error(tmp_path, "x.jsonl", "{}\n", shape="sharegpt")
    assert "unknown trace shape 'sharegpt'" in msg and "burstgpt, azure or mooncake" in msg
    msg = _error(tmp_path, "badlen.jsonl", '{"timestamp": 0, "input_tokens": 2.5, "output_tokens": 1}\n')
    assert "column 'input_tokens': not a token count" in msg
    msg = _error(tmp_path, "badtime.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,1\n")
    assert "badtime.csv:2: column 'TIMESTAMP': not a time" in msg
    msg = _error(tmp_path, "notjson.jsonl", "timestamp=0\n")
    assert "notjson.jsonl:1: not valid JSON" in msg
    with pytest.raises(ConfigError, match="file not found"):
        read_trace(tmp_path / "missing.jsonl")


def test_azure_datetimes_keep_sub_microsecond_ticks(tmp_path):
    p = tmp_path / "az.csv"
    p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2024-05-10 23:59:59.9999999,1,1\n"
                 "2024-05-11 00:00:00.0000001,1,1\n2024-05-11T00:00:01Z,1,1\n")
    assert [r.arrival_s for r in read_trace(p)] == pytest.approx([0.0, 2e-7, 1.0000001], abs=1e-9)


def test_trace_prompts_carry_lengths_and_unique_heads():
    rows = read_trace(DATA / "trace-burstgpt.csv") + [TraceRow(4.0, 10, 0)]
    ps = trace_prompts(rows, seed=3)
    assert [p.max_tokens for p in ps] == [50, 200, 12, 80, 5, 1]  # 0 (a failed BurstGPT request) asks for 1
    assert [p.approx_tokens for p in ps] == [120, 800, 45, 300, 1500, 10]
    for i, (p, r) in enumerate(zip(ps, rows)):
        assert p.text.startswith(f"#{i}: ") and p.id == f"trace-{i}"
        assert abs(len(p.text.split()) - r.input_tokens / workloads.TOKENS_PER_WORD) <= 1.5
    assert trace_prompts(rows, seed=3) == ps
