"""Parsing of prompt/response files, before anything touches the database.

Accepted, one JSON object per line (formats may be mixed in one file):

1. Ours: ``{"id": "p1", "prompt": "...", "responses": [{"text": "...", "model": "gpt-x"}, "plain text", ...]}``
   Two or more responses; every pair of them becomes a comparison. ``id`` is optional. On a
   two-response prompt, an optional ``reference`` (0 or 1: the index of the response someone
   preferred before) is kept as the reference answer, and an optional ``expected`` (0, 1 or "tie")
   marks the comparison as a gold item.
2. TRL preference: ``{"prompt": "...", "chosen": "...", "rejected": "..."}``.
3. HH-RLHF style (implicit prompt): ``{"chosen": "...", "rejected": "..."}`` where both hold the whole
   dialogue. The prompt is their longest common prefix that ends at a turn boundary (the last
   ``\\n\\nAssistant:`` they share), as training reads the same file: a reply may itself hold later
   turns, and two dialogues may part before their last reply.

Every pair, in every format, must pass the one rule of a valid pair
(`rlhf.data.preference_pair_problem`) that export and training apply too: a prompt with text, replies
that differ (either may be empty: in red-teaming data saying nothing is a real answer), no U+0000.

In the preference formats the recorded preference becomes the comparison's reference answer,
never a judgment. A prompt without an ``id`` gets one derived from its content, so importing the
same file twice is refused as duplicate ids instead of silently doubling the data.

Parsing collects every problem (line, field, what is wrong) and the import is all-or-nothing.
"""

import hashlib
import json
from dataclasses import dataclass, field
from itertools import combinations

from rlhf.data import implicit_prompt_split, preference_pair_problem


@dataclass(frozen=True)
class ImportProblem:
    line: int  # 1-based; 0 for the file as a whole
    field: str
    message: str

    def describe(self, filename: str = "") -> str:
        where = f"{filename}:" if filename else ""
        where += f"line {self.line}" if self.line else "file"
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class ParsedResponse:
    text: str
    source_model: str = ""


@dataclass
class ParsedPrompt:
    line: int
    external_id: str
    text: str
    responses: list[ParsedResponse]
    # (index_a, index_b, reference side "a"/"b" or "", gold choice "a"/"b"/"tie" or "")
    pairs: list[tuple[int, int, str, str]] = field(default_factory=list)


@dataclass
class ParseResult:
    prompts: list[ParsedPrompt]
    problems: list[ImportProblem]
    sha256: str

    @property
    def comparison_count(self) -> int:
        return sum(len(p.pairs) for p in self.prompts)


def _content_id(prompt: str, responses: list[ParsedResponse]) -> str:
    digest = hashlib.sha256(prompt.encode())
    for r in responses:
        digest.update(b"\x00" + r.text.encode())
    return "p-" + digest.hexdigest()[:16]


def _nonempty_string(obj: dict, key: str, line: int, problems: list[ImportProblem]) -> str | None:
    value = obj.get(key)
    if value is None:
        problems.append(ImportProblem(line, key, "missing"))
        return None
    if not isinstance(value, str):
        problems.append(ImportProblem(line, key, f"must be a string, got {type(value).__name__}"))
        return None
    if not value.strip():
        problems.append(ImportProblem(line, key, "is empty"))
        return None
    return value


def _string(obj: dict, key: str, line: int, problems: list[ImportProblem]) -> str | None:
    value = obj.get(key)
    if not isinstance(value, str):
        problems.append(ImportProblem(line, key, "missing" if value is None else f"must be a string, got {type(value).__name__}"))
        return None
    return value


def _parse_own(obj: dict, line: int, problems: list[ImportProblem]) -> ParsedPrompt | None:
    before = len(problems)
    prompt = _nonempty_string(obj, "prompt", line, problems)
    raw = obj.get("responses")
    responses: list[ParsedResponse] = []
    if not isinstance(raw, list):
        problems.append(ImportProblem(line, "responses", "must be a list of two or more responses"))
    else:
        for i, item in enumerate(raw):
            where = f"responses[{i}]"
            if isinstance(item, str):
                text, model = item, ""
            elif isinstance(item, dict):
                text, model = item.get("text"), item.get("model", "")
                if model is None:
                    model = ""
                if not isinstance(model, str):
                    problems.append(ImportProblem(line, f"{where}.model", "must be a string"))
                    continue
                where += ".text"
            else:
                problems.append(ImportProblem(line, where, "must be a string or an object with 'text'"))
                continue
            if not isinstance(text, str):
                problems.append(ImportProblem(line, where, "missing, or not a string"))
                continue
            responses.append(ParsedResponse(text, model))
        if len(raw) < 2:
            problems.append(ImportProblem(line, "responses", f"a prompt needs two or more responses, got {len(raw)}"))
    expected = obj.get("expected")
    gold = ""
    if expected is not None:
        if isinstance(raw, list) and len(raw) != 2:
            problems.append(ImportProblem(line, "expected", "only a prompt with exactly two responses can be gold"))
        elif expected in (0, 1) and not isinstance(expected, bool):
            gold = "a" if expected == 0 else "b"
        elif expected == "tie":
            gold = "tie"
        else:
            problems.append(ImportProblem(line, "expected", "must be 0, 1 or \"tie\""))
    reference = ""
    if obj.get("reference") is not None:
        value = obj["reference"]
        if isinstance(raw, list) and len(raw) != 2:
            problems.append(ImportProblem(line, "reference", "only a prompt with exactly two responses can have a reference answer"))
        elif value in (0, 1) and not isinstance(value, bool):
            reference = "a" if value == 0 else "b"
        else:
            problems.append(ImportProblem(line, "reference", "must be 0 or 1"))
    if len(problems) > before or prompt is None:
        return None
    pairs = list(combinations(range(len(responses)), 2))
    for i, j in pairs:
        problem = preference_pair_problem(prompt, responses[i].text, responses[j].text)
        if problem is not None:
            where, message = problem
            where = {"chosen": f"responses[{i}]", "rejected": f"responses[{j}]"}.get(where, where)
            problems.append(ImportProblem(line, where, message.replace("chosen", f"responses[{i}]")))
            return None
    parsed = ParsedPrompt(line, _external_id(obj, line, problems, prompt, responses), prompt, responses)
    parsed.pairs = [(i, j, reference, gold) for i, j in pairs]
    return parsed


def _parse_preference(obj: dict, line: int, problems: list[ImportProblem]) -> ParsedPrompt | None:
    before = len(problems)
    chosen, rejected = (_string(obj, key, line, problems) for key in ("chosen", "rejected"))
    if "prompt" in obj:
        prompt = _nonempty_string(obj, "prompt", line, problems)
    elif chosen is not None and rejected is not None:
        prompt, chosen, rejected = implicit_prompt_split(chosen, rejected)
        # Stored without the space that follows "Assistant:", as the page shows a reply.
        chosen, rejected = chosen.strip(), rejected.strip()
    else:
        prompt = None
    if len(problems) > before or prompt is None:
        return None
    problem = preference_pair_problem(prompt, chosen, rejected)
    if problem is not None:
        problems.append(ImportProblem(line, *problem))
        return None
    # Which reply is stored as "a" is decided by the content, not the file, so the reference answer
    # is not always "a" (position is randomised again when shown).
    chosen_first = hashlib.sha256((prompt + chosen).encode()).digest()[0] % 2 == 0
    replies = [chosen, rejected] if chosen_first else [rejected, chosen]
    responses = [ParsedResponse(text) for text in replies]
    parsed = ParsedPrompt(line, _external_id(obj, line, problems, prompt, responses), prompt, responses)
    parsed.pairs = [(0, 1, "a" if chosen_first else "b", "")]
    return parsed


def _external_id(obj, line, problems, prompt, responses) -> str:
    raw = obj.get("id")
    if raw is None:
        return _content_id(prompt, responses)
    if isinstance(raw, bool) or not isinstance(raw, (str, int)) or not str(raw).strip():
        problems.append(ImportProblem(line, "id", "must be a non-empty string or integer"))
        return ""
    if len(str(raw)) > 200:
        problems.append(ImportProblem(line, "id", "is longer than 200 characters"))
    return str(raw)


UTF8_BOM = b"\xef\xbb\xbf"


def _field_with_nul(value, path: str = "") -> str | None:
    """The first field (``responses[1]``, ``chosen``...) whose text holds U+0000, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items = ((key, f"{path}.{key}" if path else str(key)) for key in value)
        for key, where in items:
            if "\x00" in str(key):
                return where
            found = _field_with_nul(value[key], where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _field_with_nul(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def parse_jsonl(stream, *, max_line_bytes: int, max_bytes: int) -> ParseResult:
    """Parses a binary stream of JSONL; never raises on bad content, returns the problems instead."""
    problems: list[ImportProblem] = []
    prompts: list[ParsedPrompt] = []
    seen_ids: dict[str, int] = {}
    digest = hashlib.sha256()
    total = 0
    for number, raw in enumerate(stream, start=1):
        total += len(raw)
        digest.update(raw)
        if total > max_bytes:
            problems.append(ImportProblem(0, "", f"file is larger than the limit of {max_bytes} bytes"))
            break
        if len(raw) > max_line_bytes:
            problems.append(ImportProblem(number, "", f"line is {len(raw)} bytes, over the limit of {max_line_bytes}"))
            continue
        if number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM) :]  # spreadsheet tools write one; the digest above keeps the file's bytes
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(ImportProblem(number, "", f"not valid UTF-8 (byte {exc.start}): {exc.reason}"))
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(ImportProblem(number, "", f"invalid JSON at column {exc.colno}: {exc.msg}"))
            continue
        if not isinstance(obj, dict):
            problems.append(ImportProblem(number, "", "each line must be a JSON object"))
            continue
        nul_field = _field_with_nul(obj)
        if nul_field is not None:
            # PostgreSQL text cannot hold U+0000: refused here, so both databases take the same files.
            problems.append(ImportProblem(number, nul_field, "contains a NUL character (\\u0000), which text cannot hold"))
            continue
        if "responses" in obj:
            parsed = _parse_own(obj, number, problems)
        elif "chosen" in obj or "rejected" in obj:
            parsed = _parse_preference(obj, number, problems)
        else:
            problems.append(
                ImportProblem(number, "", "unknown format: expected 'responses', or 'chosen' and 'rejected'")
            )
            continue
        if parsed is None or not parsed.external_id:
            continue
        if parsed.external_id in seen_ids:
            problems.append(
                ImportProblem(
                    number, "id", f"duplicate prompt id {parsed.external_id!r} (first on line {seen_ids[parsed.external_id]})"
                )
            )
            continue
        seen_ids[parsed.external_id] = number
        prompts.append(parsed)
    if not prompts and not problems:
        problems.append(ImportProblem(0, "", "the file holds no prompts"))
    return ParseResult(prompts=prompts, problems=problems, sha256=digest.hexdigest())
