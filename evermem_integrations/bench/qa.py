"""The QA benchmark: answer from a system's context, judge with the LoCoMo LLM-judge protocol.

The protocol is the one EverMemOS and mem0 report with: an answer model reads the retrieved
context and answers briefly; a judge model labels the answer ``CORRECT`` or ``WRONG`` against
the gold answer, generously (same topic, same date in any format), returning JSON
``{"label": ...}``. The judge runs three times per question; accuracy is computed per run and
reported as mean and standard deviation over the runs. The adversarial category (LoCoMo 5,
no gold answer) is excluded. Any OpenAI-compatible endpoint works (``--base-url``).
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evermem_integrations.bench.corpus import BenchQuestion
from evermem_integrations.bench.metrics import mean, std
from evermem_integrations.engine.timeparse import format_day
from evermem_integrations.errors import ConfigurationError

ANSWER_SYSTEM = (
    "You answer questions about people from memories of their past conversations. "
    "Use only the memories given; each is dated, and relative times in them are relative to that date."
)
ANSWER_TEMPLATE = """Memories:
{context}

Today is {today}.
Question: {question}

Answer with a short phrase (a few words), the way a person who remembers would.
Write dates as absolute dates (e.g. 7 May 2023). If the memories do not contain the answer, say "unknown"."""

JUDGE_TEMPLATE = """You grade a generated answer against a gold answer. Label it CORRECT or WRONG.

The question asks about something said in a past conversation. The gold answer is short; the
generated answer may be longer. Be generous: the answer is CORRECT when it refers to the same
thing as the gold answer, even with other wording or extra detail. For dates and times it is
CORRECT when it denotes the same day, month, year or period as the gold answer, in any format
(e.g. "May 7th" and "7 May"). It is WRONG when it states something else or does not answer.

Question: {question}
Gold answer: {gold}
Generated answer: {generated}

Reply with JSON only: {{"reasoning": "<one sentence>", "label": "CORRECT" or "WRONG"}}"""

_LABEL = re.compile(r"\b(CORRECT|WRONG)\b")


@dataclass(frozen=True)
class QAConfig:
    """Models and endpoint of the QA benchmark."""

    answer_model: str
    judge_model: str
    base_url: str | None = None
    api_key: str | None = None
    judge_runs: int = 3
    answer_max_tokens: int = 200
    judge_max_tokens: int = 200


@dataclass
class QARecord:
    """One question answered from one system's context and judged ``judge_runs`` times."""

    system: str
    conversation: str
    question_id: str
    category: str
    question: str
    gold: str
    answer: str
    labels: list[bool]
    context_tokens: int
    prompt_tokens: int
    completion_tokens: int
    judge_tokens: int = 0
    raw_labels: list[str] = field(default_factory=list)


def parse_label(text: str) -> str:
    """``CORRECT`` or ``WRONG`` from a judge reply (JSON ``label`` first, else the last label word).

    Raises:
        ValueError: the reply holds no label at all.

    """
    try:
        data = json.loads(text)
        label = str(data.get("label", "")).strip().upper() if isinstance(data, dict) else ""
        if label in ("CORRECT", "WRONG"):
            return label
    except json.JSONDecodeError:
        pass
    found = _LABEL.findall(text.upper())
    if not found:
        raise ValueError(f"the judge reply has no CORRECT/WRONG label: {text[:200]!r}")
    return found[-1]


class QAEvaluator:
    """Answers and judges questions through an OpenAI-compatible chat endpoint."""

    def __init__(self, config: QAConfig, client: Any = None) -> None:
        if config.judge_runs < 1:
            raise ConfigurationError("judge_runs must be at least 1")
        self.config = config
        if client is None:
            from openai import OpenAI

            key = config.api_key or os.environ.get("OPENAI_API_KEY")
            if not key and config.base_url is None:
                raise ConfigurationError(
                    "the QA benchmark needs an endpoint: pass --api-key (or set OPENAI_API_KEY) or --base-url"
                )
            client = OpenAI(base_url=config.base_url, api_key=key or "not-needed", max_retries=3)
        self.client = client

    def _chat(
        self, model: str, messages: list[dict[str, str]], max_tokens: int, json_mode: bool
    ) -> tuple[str, int, int]:
        kwargs: dict[str, Any] = {"model": model, "messages": messages, "temperature": 0.0, "max_tokens": max_tokens}
        if json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        response = self.client.chat.completions.create(**kwargs)
        usage = response.usage
        text = response.choices[0].message.content or ""
        return text.strip(), (usage.prompt_tokens if usage else 0), (usage.completion_tokens if usage else 0)

    def answer(self, question: BenchQuestion, context: str) -> tuple[str, int, int]:
        """The answer model's reply to ``question`` from ``context`` (text, prompt and completion tokens)."""
        prompt = ANSWER_TEMPLATE.format(
            context=context or "(no memories)", today=format_day(question.current_time), question=question.question
        )
        messages = [{"role": "system", "content": ANSWER_SYSTEM}, {"role": "user", "content": prompt}]
        return self._chat(self.config.answer_model, messages, self.config.answer_max_tokens, json_mode=False)

    def judge(self, question: BenchQuestion, generated: str) -> tuple[list[str], int]:
        """``judge_runs`` labels for ``generated`` against the gold answer, and the tokens they used."""
        prompt = JUDGE_TEMPLATE.format(question=question.question, gold=question.answer, generated=generated)
        labels, tokens = [], 0
        for _ in range(self.config.judge_runs):
            text, prompt_tokens, completion_tokens = self._chat(
                self.config.judge_model,
                [{"role": "user", "content": prompt}],
                self.config.judge_max_tokens,
                json_mode=True,
            )
            labels.append(parse_label(text))
            tokens += prompt_tokens + completion_tokens
        return labels, tokens

    def evaluate(
        self, system: str, conversation: str, question: BenchQuestion, context: str, context_tokens: int
    ) -> QARecord:
        """Answer, then judge: one :class:`QARecord`."""
        if question.answer is None:
            raise ConfigurationError(f"question {question.id} has no gold answer (adversarial): exclude it from QA")
        answer, prompt_tokens, completion_tokens = self.answer(question, context)
        labels, judge_tokens = self.judge(question, answer)
        return QARecord(
            system=system,
            conversation=conversation,
            question_id=question.id,
            category=question.category,
            question=question.question,
            gold=question.answer,
            answer=answer,
            labels=[label == "CORRECT" for label in labels],
            context_tokens=context_tokens,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            judge_tokens=judge_tokens,
            raw_labels=labels,
        )


def run_accuracies(records: Sequence[QARecord]) -> list[float]:
    """Accuracy of each judge run over ``records`` (run i uses every record's i-th label)."""
    if not records:
        return []
    runs = min(len(r.labels) for r in records)
    return [sum(r.labels[i] for r in records) / len(records) for i in range(runs)]


def summarize_qa(records: Sequence[QARecord]) -> dict[str, Any]:
    """Per system: accuracy mean/std over judge runs, per category, and tokens per question."""
    by_system: dict[str, list[QARecord]] = defaultdict(list)
    for record in records:
        by_system[record.system].append(record)
    summary: dict[str, Any] = {}
    for system, rows in by_system.items():
        runs = run_accuracies(rows)
        categories: dict[str, list[QARecord]] = defaultdict(list)
        for row in rows:
            categories[row.category].append(row)
        summary[system] = {
            "questions": len(rows),
            "accuracy_mean": mean(runs),
            "accuracy_std": std(runs),
            "accuracy_runs": runs,
            "by_category": {
                name: {
                    "questions": len(cat),
                    "accuracy_mean": mean(run_accuracies(cat)),
                    "accuracy_std": std(run_accuracies(cat)),
                }
                for name, cat in sorted(categories.items())
            },
            "context_tokens_per_question": mean(r.context_tokens for r in rows),
            "answer_prompt_tokens_per_question": mean(r.prompt_tokens for r in rows),
            "answer_completion_tokens_per_question": mean(r.completion_tokens for r in rows),
            "judge_tokens_per_question": mean(r.judge_tokens for r in rows),
        }
    return summary
