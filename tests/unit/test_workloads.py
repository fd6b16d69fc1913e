import json

import numpy as np
import pytest

from deploybench import workloads
from deploybench.schemas import ConfigError, JsonlWorkload, SamplesWorkload, SyntheticWorkload
from tests.conftest import seed_dir


def test_fixed_lengths_track_target():
    ps = workloads.synthetic(SyntheticWorkload(input_tokens=130, prompts=10))
    assert len(ps) == 10
    assert all(abs(len(p.text.split()) - 100) <= 1 for p in ps)


@pytest.mark.parametrize("dist", ["uniform", "normal", "lognormal"])
def test_distributions_have_requested_mean(dist):
    cfg = SyntheticWorkload(input_tokens=200, input_tokens_stdev=50, distribution=dist, prompts=4000,
                            input_tokens_max=10_000)
    lens = workloads.lengths(cfg)
    assert abs(lens.mean() - 200) < 5 and abs(lens.std() - 50) < 5


def test_lengths_clipped():
    lens = workloads.lengths(SyntheticWorkload(input_tokens=100, input_tokens_stdev=80, distribution="normal",
                                               input_tokens_min=20, input_tokens_max=150, prompts=500))
    assert lens.min() >= 20 and lens.max() <= 150


def test_jsonl(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps({"prompt": "hello"}) + "\n\n" + json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    ps = workloads.jsonl(JsonlWorkload(path=p))
    assert [x.text for x in ps] == ["hello", "hi"] and ps[1].messages


def test_jsonl_errors_name_line(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"text": "x"}\n')
    with pytest.raises(ConfigError, match=r"p.jsonl:1: no 'prompt' field"):
        workloads.jsonl(JsonlWorkload(path=p))
    with pytest.raises(ConfigError, match="file not found"):
        workloads.jsonl(JsonlWorkload(path=tmp_path / "missing.jsonl"))


@pytest.mark.required
def test_seed_samples_in_order():
    path = seed_dir() / "samples.json"
    if not path.exists():
        pytest.skip(f"seed data not found at {path}")
    ps = workloads.samples(SamplesWorkload(path=path))
    raw = json.loads(path.read_text())
    assert len(ps) == 1000 and ps[0].text == raw[0][0] and ps[999].approx_tokens == raw[999][1]
    assert np.mean([p.approx_tokens for p in ps]) == pytest.approx(233, abs=2)
