"""Generation forwarded to vLLM's OpenAI-compatible server, for GPUs and scale-out.

Start one server per base model with every served adapter named by its version id, e.g.:

    vllm serve /models/qwen2-0.5b --enable-lora --max-loras 8 --max-lora-rank 16 \\
        --lora-modules v12=/artifacts/job-12 v15=/artifacts/job-15 --port 8100

and point the site at it: ``LEDGERLOOP_VLLM_URL=http://127.0.0.1:8100``. vLLM loads adapters on demand
and keeps up to ``--max-loras`` of them on the GPU, batching requests for different adapters together;
the site still validates, meters and charges every call. Scoring with reward models stays in the
embedded engine (`ServingPool`).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from rlhf.serving.pool import ServedVersion, ServingInputError, sampling_check

URL_VARIABLE = "LEDGERLOOP_VLLM_URL"


class EngineUnavailable(RuntimeError):
    """The forwarding engine could not be reached or answered with an error."""


class VllmEngine:
    """`generate` with the same contract as `ServingPool.generate`, served by a vLLM server at `url`."""

    def __init__(self, url: str, *, timeout_s: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def served_name(self, version: ServedVersion) -> str:
        """The name the adapter is served under (`--lora-modules NAME=path`): its version id."""
        return version.version_id

    def generate(self, version: ServedVersion, prompt: str, *, max_tokens: int, temperature: float = 1.0,
                 seed: int = 0) -> dict[str, Any]:
        sampling_check(max_tokens, temperature)
        body = {"model": self.served_name(version), "prompt": prompt, "max_tokens": max_tokens,
                "temperature": float(temperature), "seed": seed}
        request = urllib.request.Request(f"{self.url}/v1/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            if error.code == 400:  # vLLM says which limit was passed (context, max_tokens)
                raise ServingInputError("prompt" if "prompt" in detail.lower() else "max_tokens", detail) from None
            raise EngineUnavailable(f"{self.url}: HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise EngineUnavailable(f"{self.url}: {error}") from None
        usage = answer.get("usage", {})
        return {"text": answer["choices"][0]["text"], "tokens_in": int(usage.get("prompt_tokens", 0)),
                "tokens_out": int(usage.get("completion_tokens", 0)), "loaded": False,
                "seconds": time.perf_counter() - started}
