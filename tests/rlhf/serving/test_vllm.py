"""The vLLM forwarding engine against a stand-in OpenAI-compatible server on loopback (a system edge)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from rlhf.serving import ServedVersion, ServingInputError
from rlhf.serving.vllm import EngineUnavailable, VllmEngine

VERSION = ServedVersion("v12", "/artifacts/job-12", "dpo_policy", True, "/models/base")


@pytest.fixture
def server():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body))
            if body["max_tokens"] > 100:
                self.send_response(400)
                self.end_headers()
                self.wfile.write(b'{"message": "max_tokens is too large for the context"}')
                return
            answer = {"choices": [{"text": " Paris."}], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(answer).encode())

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", seen
    httpd.shutdown()


def test_generate_sends_the_adapter_name_and_sampling_and_maps_the_answer(server):
    url, seen = server
    result = VllmEngine(url).generate(VERSION, "Capital of France?", max_tokens=8, temperature=0.5, seed=3)
    assert seen == [("/v1/completions", {"model": "v12", "prompt": "Capital of France?", "max_tokens": 8,
                                         "temperature": 0.5, "seed": 3})]
    assert (result["text"], result["tokens_in"], result["tokens_out"]) == (" Paris.", 9, 3)


def test_the_servers_refusal_names_the_field_and_bad_input_is_not_sent(server):
    url, seen = server
    with pytest.raises(ServingInputError) as refused:
        VllmEngine(url).generate(VERSION, "x", max_tokens=500)
    assert refused.value.field == "max_tokens"
    with pytest.raises(ServingInputError):
        VllmEngine(url).generate(VERSION, "x", max_tokens=4, temperature=3)
    assert len(seen) == 1


def test_an_unreachable_server_is_said_so():
    with pytest.raises(EngineUnavailable, match="127.0.0.1:9"):
        VllmEngine("http://127.0.0.1:9", timeout_s=2).generate(VERSION, "x", max_tokens=4)
