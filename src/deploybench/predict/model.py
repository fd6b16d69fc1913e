"""The performance model: roofline step times, TP communication, KV capacity, closed-loop queueing.

Pure functions of :class:`~.features.CellFeatures` and :class:`Params`; times in milliseconds.
``docs/predict.md`` writes every formula out.

* decode step (batch b, mean context c tokens):
  ``overhead + max(bytes / (BW x e_mem), flops / (F x e_dec)) + comm``, with bytes = weights read
  once per step + KV of the whole batch, all divided over the TP devices;
* prefill of T prompt tokens: the same with T tokens of FLOPs (``e_pre``);
* comm (TP > 1): 2 all-reduces per layer, each ``alpha + 2 (tp-1)/tp x msg / link bandwidth``;
* overhead: ``o_step + layers x o_layer`` (kernel launches, scheduler), x ``q_overhead`` for
  quantized kernels;
* KV admission (:func:`kv_schedule`): an engine that reserves runs b = min(N, B) requests, B those whose whole
  prompt + output fits; one that admits on demand runs more, preempts when its cache runs out, re-prefills the
  preempted requests and pauses them after their first token (TPOT, TTFT);
* a request at level N with batch b: its server time = prefill of its
  own prompt plus the b-1 others that join while it runs + (output - 1) decode steps; median
  ms/token uses the median prompt, mean times the mean prompt; queueing inside the batch is
  ``k_queue`` decode steps; beyond the batch, a closed loop of N users on b slots waits N/b cycles;
  TTFT = that wait + queue + prefill of its own prompt and half of the others + half a step;
  TPOT = (server time - TTFT) / (output - 1), the benchmarks' definition;
* fp8 / fp4 deployments multiply at that dtype's peak; an MoE reads the experts its batch routes to
  and multiplies by the active ones; PP runs pp micro-batches through pp stages.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from .features import CellFeatures

__all__ = ["FIGURES", "KvSchedule", "Params", "Prediction", "StepTimes", "comm_ms", "decode_step_ms", "figures",
           "kv_schedule", "kv_tokens", "max_batch", "predict_cell", "prefill_ms", "roofline_decode", "roofline_decode_ms",
           "step_times"]

FIGURES = ("ms_per_token", "tok_s", "ttft_ms", "tpot_ms", "e2e_ms", "cost_per_1m")


class Params(BaseModel):
    """Calibrated factors (the fit's unknowns). Defaults are priors for an unseen engine x hardware."""

    model_config = ConfigDict(extra="forbid")

    e_mem: float = Field(0.7, gt=0, description="fraction of peak memory bandwidth reached")
    e_dec: float = Field(0.3, gt=0, description="fraction of peak FLOP/s in decode")
    e_pre: float = Field(0.4, gt=0, description="fraction of peak FLOP/s in prefill")
    o_step: float = Field(2.0, ge=0, description="ms per forward pass, fixed")
    o_layer: float = Field(0.2, ge=0, description="ms per layer per forward pass")
    moe_spread: float = Field(1.0, gt=0, le=1, description="MoE routing: a pass over b tokens hits the experts "
                              "b^moe_spread uniformly routed tokens would (1 = uniform; below 1, the tokens of a "
                              "batch share experts more than chance)")
    alpha: float = Field(0.005, ge=0, description="ms per ring hop of an all-reduce (latency)")
    e_link: float = Field(0.7, gt=0, description="fraction of interconnect bandwidth reached")
    q_overhead: float = Field(1.0, gt=0, description="overhead multiplier of quantized (weight-only) kernels")
    q_compute: float = Field(1.0, gt=0, description="prefill FLOP/s multiplier of quantized kernels")
    q_comm: float = Field(1.0, gt=0, description="TP communication multiplier of quantized deployments")
    k_queue: float = Field(1.0, ge=0, description="mean queue wait, in decode steps, at level > 1")
    k_queue_q: float = Field(1.0, gt=0, description="queue multiplier for quantized deployments")
    mem_reserve: float = Field(0.1, ge=0, lt=1, description="device memory not available to weights + KV")


class StepTimes(BaseModel):
    decode_ms: float
    decode_mem_ms: float
    decode_compute_ms: float
    comm_ms: float
    overhead_ms: float
    prefill_ms: float = Field(description="prefill of one mean prompt")
    batch: int


class Prediction(BaseModel):
    """Predicted figures of one cell, each with a relative uncertainty (1 sigma, log scale)."""

    run_id: str = ""
    deployment: str = ""
    concurrency: int
    ms_per_token: float = Field(description="median server time / output tokens (2023 definition)")
    tok_s: float = Field(description="N x output tokens / mean request time")
    ttft_ms: float
    tpot_ms: float
    e2e_ms: float
    cost_per_1m: float | None = None
    batch: int
    max_batch: int
    bound: str = Field(description="memory | compute: what limits a decode step")
    uncertainty: dict[str, float] = Field(default_factory=dict, description="figure -> relative 1-sigma")
    group: str = ""
    calibrated: bool = Field(True, description="False: the cell's engine x hardware family was not in the fit")


def _quantized(f: CellFeatures) -> bool:
    """Weight-only quantized: the ``q_*`` factors apply (fp8 / fp4 weights and activations run at their own peak)."""
    return f.weight_only


def weight_bytes(f: CellFeatures, batch: float | None = None) -> float:
    """Bytes of weights: held in memory (``batch`` None), or read by one pass over ``batch`` tokens (an MoE
    reads only the experts they route to). Matrices at their bits; the output head at 16 bits. Data-parallel
    attention over dp groups holds the attention projections dp times (each group its own copy); what one pass
    reads stays the TP model's (see :func:`kv_copies`)."""
    a = f.arch
    mats = a.matrix_params if batch is None else a.matrix_params_read(batch)
    if batch is None:  # held: data-parallel attention keeps a copy of the attention weights per group
        mats += a.attention_params * (max(1, f.attention_dp) - 1)
    return mats * f.bits / 8 + a.vocab * a.hidden * 2


def kv_copies(f: CellFeatures, held: bool = False) -> float:
    """How many TP ranks hold each KV element: 1, or more when there are fewer KV heads than ranks (MLA's
    shared latent: every rank).

    ``held``: the copies in memory, where data-parallel attention (``f.attention_dp`` groups of tp / dp ranks,
    each caching only its own requests) divides them by dp. A decode step's KV read keeps the TP copies: the
    model has no term for what data-parallel attention costs per step (ranks in lockstep, uneven requests per
    rank, token gathers around the MoE), and SGLang 0.4.3's measured step grows with the batch as the replicated
    read does (docs/predict.md, "Validation on public GPU data")."""
    tp = f.tp / (max(1, f.attention_dp) if held else 1)
    return float(tp) if f.arch.kv_replicated else max(1.0, tp / f.arch.kv_heads)


def kv_bytes(f: CellFeatures, tokens: float, held: bool = False) -> float:
    """KV-cache bytes of ``tokens`` cached tokens over all devices, copies included (engine's KV precision);
    ``held``: the copies kept in memory (:func:`kv_copies`)."""
    return tokens * f.arch.kv_bytes_per_token(f.kv_bits / 8) * kv_copies(f, held)


def _overhead(f: CellFeatures, p: Params) -> float:
    return (p.o_step + f.arch.layers * p.o_layer) * (p.q_overhead if _quantized(f) else 1.0)


def comm_ms(f: CellFeatures, tokens: float, p: Params) -> float:
    """Tensor-parallel all-reduces of one forward pass over ``tokens`` tokens (0 on one device), plus the
    activations sent between pipeline stages."""
    tp, pp = f.tp, f.pp
    link = (f.hardware.interconnect_gbs or 16.0) * 1e9 * p.e_link
    act = tokens * f.arch.hidden * 2  # fp16 activations
    ms = (pp - 1) * (p.alpha + 1e3 * act / link)
    if tp > 1:
        msg = act * 2 * (tp - 1) / tp  # ring all-reduce
        ms += 2 * f.arch.layers * (p.alpha * 2 * (tp - 1) + 1e3 * msg / link)
    return ms * (p.q_comm if _quantized(f) else 1.0)


def _mem_ms(f: CellFeatures, nbytes: float, p: Params) -> float:
    """Reading ``nbytes`` (of the whole model) split over the TP ranks; pipeline stages run one after another."""
    return 1e3 * nbytes / f.tp / (f.hardware.bandwidth_gbs * 1e9 * p.e_mem)


def _flop_ms(f: CellFeatures, tokens: float, context: float, eff: float, prefill: bool = False) -> tuple[float, float]:
    """(matrix multiplies, attention) compute ms of a pass over ``tokens`` tokens at mean ``context``: the
    multiplies at the peak of the deployment's dtype (fp8 / fp4 where it quantizes activations), attention
    at the fp16 peak."""
    a, hw = f.arch, f.hardware
    mat = tokens * 2 * (a.active_matrix_params + a.vocab * a.hidden) / (hw.tflops(f.compute_dtype) * 1e12)
    att = tokens * a.layers * a.attn_flops(prefill) * context / (hw.tflops("fp16") * 1e12)
    return 1e3 * mat / f.tp / eff, 1e3 * att / f.tp / eff


def decode_step_ms(f: CellFeatures, batch: int, context: float, p: Params) -> tuple[float, float, float]:
    """(step ms, memory-bound ms, compute-bound ms) of one decode step: the time between two tokens of a
    request. Two kinds of kernels, each at its own roofline: the weight multiplies (weights read vs their
    FLOPs) and attention (the batch's KV cache read vs its FLOPs). With PP stages the batch runs as ``pp``
    micro-batches, one per stage at a time."""
    m = max(1.0, batch / f.pp)
    mem_w, mem_kv = _mem_ms(f, weight_bytes(f, m ** p.moe_spread), p), _mem_ms(f, kv_bytes(f, m * context), p)
    cmp_w, cmp_kv = _flop_ms(f, m, context, p.e_dec)
    step = _overhead(f, p) + max(mem_w, cmp_w) + max(mem_kv, cmp_kv) + comm_ms(f, m, p)
    return step, mem_w + mem_kv, cmp_w + cmp_kv


def prefill_ms(f: CellFeatures, tokens: float, p: Params) -> float:
    """One prefill forward pass over ``tokens`` prompt tokens (all prompts joining together)."""
    eff = p.e_pre * (p.q_compute if _quantized(f) else 1.0)
    cmp_ = sum(_flop_ms(f, tokens, f.workload.input_mean / 2, eff, prefill=True))
    return _overhead(f, p) + max(_mem_ms(f, weight_bytes(f, tokens ** p.moe_spread), p), cmp_) + comm_ms(f, tokens, p)


def kv_tokens(f: CellFeatures, p: Params) -> float:
    """Tokens the KV cache holds beside the weights (the KV budget), copies included."""
    hw = f.hardware
    free = hw.memory_gib * 2**30 * (1 - p.mem_reserve) - weight_bytes(f) / hw.devices  # per device
    return max(0.0, free / (kv_bytes(f, 1.0, held=True) / hw.devices))


def capacity(f: CellFeatures, p: Params) -> float:
    """Requests whose KV cache fits beside the weights (prompt + output each), capped by the engine's limit;
    not rounded (the fit needs a smooth figure)."""
    fit = kv_tokens(f, p) / (f.workload.input_mean + f.workload.output_tokens)
    return min(fit, float(f.max_batch)) if f.max_batch else fit


class KvSchedule(BaseModel):
    """How the KV budget shapes a closed loop of N users (:func:`kv_schedule`); steps are decode steps."""

    batch: float = Field(description="requests decoding at once, averaged over a request's output")
    recompute_tokens: float = Field(0.0, description="prompt + output tokens re-prefilled after preemptions, "
                                    "per output length of decode steps")
    pause_median: float = Field(0.0, description="steps the median request spends preempted after its first token")
    pause_mean: float = Field(0.0, description="the same, mean over requests")


def kv_schedule(f: CellFeatures, p: Params) -> KvSchedule:
    """The running batch and the cost of preemption under the engine's KV admission (``f.admission``).

    *reserve*: a request is admitted when its whole prompt + output fits: b = min(N, K / (I + O)), never preempted.
    *on-demand*: admitted when its prompt fits, b0 = min(N, K / I, slots) start together (a closed loop of
    fixed-length requests keeps them in waves). Their cache grows a token a step; from progress
    t* = K / b0 - I on it is full and the engine preempts the newest, so b(t) = K / (I + t) until the survivors,
    K / (I + O), finish. Over the O steps: mean batch (b0 t* + K ln((I + O) / (I + t*))) / O; the requests
    preempted at progress t (K / (I + t)^2 dt of them) re-prefill their I + t tokens, K ln(...) in all, and wait
    O - t steps for the survivors' room; the median waits only where more than half are preempted
    (O - (2K / b0 - I) steps, at least 0).
    """
    n, inp, out = float(f.concurrency), f.workload.input_mean, f.workload.output_tokens
    slots = float(f.max_batch) if f.max_batch else math.inf
    k = kv_tokens(f, p)
    if f.admission != "on-demand":
        return KvSchedule(batch=max(1.0, min(n, capacity(f, p))))
    b0 = max(1.0, min(n, k / inp, slots))
    if b0 * (inp + out) <= k:  # the whole wave fits at full length: nobody is preempted
        return KvSchedule(batch=b0)
    t0 = max(0.0, k / b0 - inp)
    log = math.log((inp + out) / (inp + t0))
    batch = max(1.0, (b0 * t0 + k * log) / out)
    mean = k / b0 * ((out + inp) * (1 / (inp + t0) - 1 / (inp + out)) - log)
    return KvSchedule(batch=batch, recompute_tokens=k * log, pause_median=max(0.0, out - (2 * k / b0 - inp)),
                      pause_mean=max(0.0, mean))


def max_batch(f: CellFeatures, p: Params) -> int:
    """Whole requests whose KV cache fits (:func:`capacity`)."""
    return int(capacity(f, p))


def roofline_decode(f: CellFeatures, batch: int | None = None) -> tuple[float, str]:
    """(ms, "memory-bandwidth" | "compute"): the hardware's bound for one decode step, bytes at peak
    bandwidth vs FLOPs at peak (no overheads, no communication), and which of the two it is."""
    ideal = Params(e_mem=1.0, e_dec=1.0, e_pre=1.0, o_step=0, o_layer=0, alpha=0, e_link=1.0)
    b = batch or f.concurrency
    _, mem, cmp_ = decode_step_ms(f, b, f.workload.input_mean + f.workload.output_tokens / 2, ideal)
    return (mem, "memory-bandwidth") if mem >= cmp_ else (cmp_, "compute")


def roofline_decode_ms(f: CellFeatures, batch: int | None = None) -> float:
    """The hardware's bound for one decode step (:func:`roofline_decode`), in ms."""
    return roofline_decode(f, batch)[0]


def step_times(f: CellFeatures, p: Params) -> StepTimes:
    b = max(1, min(f.concurrency, max_batch(f, p) or 1))
    ctx = f.workload.input_mean + f.workload.output_tokens / 2
    dec, mem, cmp_ = decode_step_ms(f, b, ctx, p)
    return StepTimes(decode_ms=dec, decode_mem_ms=mem, decode_compute_ms=cmp_, comm_ms=comm_ms(f, b, p),
                     overhead_ms=_overhead(f, p), prefill_ms=prefill_ms(f, f.workload.input_mean, p), batch=b)


def _server_ms(f: CellFeatures, own_prompt: float, b: float, dec: float, p: Params, recompute: float = 0.0) -> float:
    """Server time of one request: prefill (own prompt + the b-1 joining it + the tokens preempted requests
    re-prefill meanwhile) + remaining decode steps."""
    others = (b - 1) * f.workload.input_mean + recompute
    return prefill_ms(f, own_prompt + others, p) + (f.workload.output_tokens - 1) * dec


def figures(f: CellFeatures, p: Params) -> dict[str, float]:
    """The predicted figures as plain floats (the fit calls this thousands of times)."""
    cap = capacity(f, p)
    kv = kv_schedule(f, p)
    b, n, out = kv.batch, f.concurrency, f.workload.output_tokens
    dec, mem, cmp_ = decode_step_ms(f, b, f.workload.input_mean + out / 2, p)
    queue = p.k_queue * (p.k_queue_q if _quantized(f) else 1.0) * dec if n > 1 else 0.0
    med = _server_ms(f, f.workload.input_median, b, dec, p, kv.recompute_tokens)
    mean = _server_ms(f, f.workload.input_mean, b, dec, p, kv.recompute_tokens) + queue
    wait = 0.0
    if n > b:  # closed loop beyond the batch: N users share b slots, each waits its turn
        wait = mean * (n - b) / b
        mean *= n / b
    # first token: its own prompt and, on average, half of the others joining with it are prefilled first
    own = prefill_ms(f, f.workload.input_median + (b - 1) / 2 * f.workload.input_mean, p)
    step = (med - own) / max(1.0, out - 1) if out > 1 else dec  # between two tokens while it runs
    # preempted after its first token, a request waits its turn there instead of before it
    return {"ms_per_token": (med + kv.pause_median * step) / out, "tok_s": n * out * 1e3 / mean, "e2e_ms": mean,
            "ttft_ms": max(0.0, wait - kv.pause_mean * step) + queue + own + (dec / 2 if b > 1 else 0.0),
            "tpot_ms": step * (1 + kv.pause_median / max(1.0, out - 1)),
            "batch": b, "max_batch": cap, "memory_bound": float(mem >= cmp_)}


def predict_cell(f: CellFeatures, p: Params, price_per_hour: float | None = None) -> Prediction:
    """All figures of one cell from its features and calibrated parameters (no uncertainty yet)."""
    x = figures(f, p)
    price = price_per_hour if price_per_hour is not None else f.hardware.price_per_hour
    cost = price * 1e6 / x["tok_s"] / 3600 if price is not None and x["tok_s"] > 0 else None
    return Prediction(run_id=f.run_id, deployment=f.deployment, concurrency=f.concurrency,
                      ms_per_token=x["ms_per_token"], tok_s=x["tok_s"], ttft_ms=x["ttft_ms"], tpot_ms=x["tpot_ms"],
                      e2e_ms=x["e2e_ms"], cost_per_1m=cost, batch=int(x["batch"]), max_batch=int(x["max_batch"]),
                      group=f.group, bound="memory" if x["memory_bound"] else "compute")
