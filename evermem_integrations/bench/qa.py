"""The QA benchmark: answer from a system's context, then judge with the benchmark's own protocol.

An answer model reads the retrieved context and answers briefly (one answer prompt for both
benchmarks; it gives the question's date and allows "unknown", which abstention questions
need). A judge model then labels the answer under the protocol of the benchmark the question
comes from (:class:`JudgeProtocol`):

* :data:`LOCOMO_JUDGE`, the LoCoMo protocol EverMemOS and mem0 report with: ``CORRECT`` or
  ``WRONG`` against the gold answer, generously (same topic, same date in any format), as JSON
  ``{"label": ...}``. The adversarial category (LoCoMo 5, no gold answer) is excluded.
* :data:`LONGMEMEVAL_JUDGE`, LongMemEval's protocol (xiaowu0162/LongMemEval,
  ``src/evaluation/evaluate_qa.py``, ``get_anscheck_prompt``): one user message whose rules
  depend on the ``question_type`` (off-by-one day counts pass for temporal reasoning, the
  updated answer passes for knowledge update, a rubric for preference questions, and
  abstention questions pass when the answer says the information is missing), answered
  ``yes`` or ``no`` at temperature 0 with at most 10 tokens. The prompts here restate those
  rules in our words.

Either way the judge runs ``judge_runs`` times per question (LongMemEval's script runs once;
repeating it lets both benchmarks report alike); accuracy is computed per run and reported as
mean and standard deviation over the runs. Any OpenAI-compatible endpoint works (``--base-url``).
"""

from __future__ import annotations

import json
import os
import re
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from evermem_integrations.bench.corpus import BenchQuestion
from evermem_integrations.bench.longmemeval import split_category
from evermem_integrations.bench.metrics import mean, std
from evermem_integrations.engine.timeparse import format_day
from evermem_integrations.errors import ConfigurationError

Messages = list[dict[str, str]]
"""Chat-completions messages (``role`` and ``content``)."""

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

LOCOMO_JUDGE_TEMPLATE = """You grade a generated answer against a gold answer. Label it CORRECT or WRONG.

The question asks about something said in a past conversation. The gold answer is short; the
generated answer may be longer. Be generous: the answer is CORRECT when it refers to the same
thing as the gold answer, even with other wording or extra detail. For dates and times it is
CORRECT when it denotes the same day, month, year or period as the gold answer, in any format
(e.g. "May 7th" and "7 May"). It is WRONG when it states something else or does not answer.

Question: {question}
Gold answer: {gold}
Generated answer: {generated}

Reply with JSON only: {{"reasoning": "<one sentence>", "label": "CORRECT" or "WRONG"}}"""

LONGMEMEVAL_JUDGE_TEMPLATE = """You check a model's response to a question about a user's chat history. {rule}

Question: {question}

{gold_name}: {gold}

Model response: {generated}

{ask} Answer yes or no only."""


@dataclass(frozen=True)
class LongMemEvalCheck:
    """What one kind of LongMemEval question is judged on: the rule, the gold field's name, the ask."""

    rule: str
    gold_name: str = "Correct answer"
    ask: str = "Is the model response correct?"


_CONTAINS_ANSWER = (
    "Answer yes if the response contains the correct answer, is equivalent to it, or contains every "
    "intermediate step that leads to it. Answer no if it gives something else, or only part of the "
    "information the correct answer requires."
)
LONGMEMEVAL_CHECKS: Mapping[str, LongMemEvalCheck] = {
    "single-session-user": LongMemEvalCheck(_CONTAINS_ANSWER),
    "single-session-assistant": LongMemEvalCheck(_CONTAINS_ANSWER),
    "multi-session": LongMemEvalCheck(_CONTAINS_ANSWER),
    "temporal-reasoning": LongMemEvalCheck(
        _CONTAINS_ANSWER + " Do not penalise an off-by-one error in a number of days, weeks, months or the "
        "like: a response of 19 days when the correct answer is 18 days is still correct."
    ),
    "knowledge-update": LongMemEvalCheck(
        "The correct answer is the latest value of something that changed. Answer yes if the response "
        "contains it, even next to earlier, outdated information, as long as the updated value is the "
        "answer it gives. Otherwise answer no."
    ),
    "single-session-preference": LongMemEvalCheck(
        "The rubric describes the personalised response the user wants. Answer yes if the response "
        "recalls the user's personal information and uses it correctly; it need not cover every point "
        "of the rubric. Otherwise answer no.",
        gold_name="Rubric",
    ),
}
"""The check of each LongMemEval ``question_type`` (abstention questions use :data:`LONGMEMEVAL_ABSTENTION_CHECK`)."""

LONGMEMEVAL_ABSTENTION_CHECK = LongMemEvalCheck(
    "The question cannot be answered from the chat history, and the explanation says why. Answer yes "
    "if the response correctly identifies the question as unanswerable, e.g. by saying the information "
    "is incomplete or missing, or that related information was given but not what is asked. Otherwise "
    "answer no.",
    gold_name="Explanation",
    ask="Does the response correctly identify the question as unanswerable?",
)


class JudgeProtocol(ABC):
    """How a benchmark's judge is asked about a generated answer, and how its reply is read."""

    name: ClassVar[str]
    """Reported in the QA settings of the report."""
    max_tokens: ClassVar[int]
    json_mode: ClassVar[bool]
    """Whether the judge is asked for a JSON object (``response_format``)."""

    @abstractmethod
    def prompt(self, question: BenchQuestion, generated: str) -> Messages:
        """The judge's messages for ``generated``, the answer given to ``question``."""

    @abstractmethod
    def parse(self, reply: str) -> bool:
        """Whether the judge's ``reply`` accepts the answer.

        Raises:
            ValueError: the reply holds no verdict.

        """


class LoCoMoJudge(JudgeProtocol):
    """The LoCoMo judge: ``CORRECT`` or ``WRONG`` against the gold answer, generously, in JSON."""

    name = "locomo"
    max_tokens = 200
    json_mode = True
    _LABEL = re.compile(r"\b(CORRECT|WRONG)\b")

    def prompt(self, question: BenchQuestion, generated: str) -> Messages:
        """One user message with the question, the gold answer and the generated one."""
        content = LOCOMO_JUDGE_TEMPLATE.format(question=question.question, gold=question.answer, generated=generated)
        return [{"role": "user", "content": content}]

    def parse(self, reply: str) -> bool:
        """``CORRECT``: the JSON ``label`` first, else the last label word of the reply."""
        try:
            data = json.loads(reply)
            label = str(data.get("label", "")).strip().upper() if isinstance(data, dict) else ""
            if label in ("CORRECT", "WRONG"):
                return label == "CORRECT"
        except json.JSONDecodeError:
            pass
        found = self._LABEL.findall(reply.upper())
        if not found:
            raise ValueError(f"the judge reply has no CORRECT/WRONG label: {reply[:200]!r}")
        return bool(found[-1] == "CORRECT")


class LongMemEvalJudge(JudgeProtocol):
    """LongMemEval's judge: a ``question_type``-specific check answered ``yes`` or ``no``."""

    name = "longmemeval"
    max_tokens = 10
    json_mode = False
    _YES = re.compile(r"\byes\b")
    _NO = re.compile(r"\bno\b")

    def prompt(self, question: BenchQuestion, generated: str) -> Messages:
        """One user message with the check of the question's type (or of abstention).

        Raises:
            ConfigurationError: the question's type is not a LongMemEval ``question_type``.

        """
        question_type, abstention = split_category(question.category)
        check = LONGMEMEVAL_ABSTENTION_CHECK if abstention else LONGMEMEVAL_CHECKS.get(question_type)
        if check is None:
            raise ConfigurationError(
                f"question {question.id} has question_type {question_type!r}, which the LongMemEval judge does "
                f"not know; known types: {', '.join(LONGMEMEVAL_CHECKS)}"
            )
        content = LONGMEMEVAL_JUDGE_TEMPLATE.format(
            rule=check.rule,
            question=question.question,
            gold_name=check.gold_name,
            gold=question.answer,
            generated=generated,
            ask=check.ask,
        )
        return [{"role": "user", "content": content}]

    def parse(self, reply: str) -> bool:
        """``yes`` anywhere in the reply accepts (as LongMemEval reads it), else ``no`` rejects.

        LongMemEval counts a reply with neither word as a no; here it is an error, so that a judge
        that ignores the instructions (or a truncated reply) shows instead of lowering the score.
        """
        text = reply.lower()
        if self._YES.search(text):
            return True
        if self._NO.search(text):
            return False
        raise ValueError(f"the judge reply says neither yes nor no: {reply[:200]!r}")


LOCOMO_JUDGE = LoCoMoJudge()
LONGMEMEVAL_JUDGE = LongMemEvalJudge()


@dataclass(frozen=True)
class QAConfig:
    """Models and endpoint of the QA benchmark."""

    answer_model: str
    judge_model: str
    base_url: str | None = None
    api_key: str | None = None
    judge_runs: int = 3
    answer_max_tokens: int = 200


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
    judge_replies: list[str] = field(default_factory=list)


class QAEvaluator:
    """Answers questions and judges the answers under ``protocol``, through an OpenAI-compatible endpoint."""

    def __init__(self, config: QAConfig, *, protocol: JudgeProtocol, client: Any = None) -> None:
        if config.judge_runs < 1:
            raise ConfigurationError("judge_runs must be at least 1")
        self.config = config
        self.protocol = protocol
        if client is None:
            from openai import OpenAI

            key = config.api_key or os.environ.get("OPENAI_API_KEY")
            if not key and config.base_url is None:
                raise ConfigurationError(
                    "the QA benchmark needs an endpoint: pass --api-key (or set OPENAI_API_KEY) or --base-url"
                )
            client = OpenAI(base_url=config.base_url, api_key=key or "not-needed", max_retries=3)
        self.client = client

    def _chat(self, model: str, messages: Messages, max_tokens: int, json_mode: bool) -> tuple[str, int, int]:
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

    def judge(self, question: BenchQuestion, generated: str) -> tuple[list[bool], list[str], int]:
        """``judge_runs`` verdicts on ``generated``, the judge's replies, and the tokens they used."""
        messages = self.protocol.prompt(question, generated)
        labels, replies, tokens = [], [], 0
        for _ in range(self.config.judge_runs):
            text, prompt_tokens, completion_tokens = self._chat(
                self.config.judge_model, messages, self.protocol.max_tokens, self.protocol.json_mode
            )
            labels.append(self.protocol.parse(text))  # parsed at once: a bad reply stops before more calls
            replies.append(text)
            tokens += prompt_tokens + completion_tokens
        return labels, replies, tokens

    def evaluate(
        self, system: str, conversation: str, question: BenchQuestion, context: str, context_tokens: int
    ) -> QARecord:
        """Answer, then judge: one :class:`QARecord`."""
        if question.answer is None:
            raise ConfigurationError(f"question {question.id} has no gold answer (adversarial): exclude it from QA")
        answer, prompt_tokens, completion_tokens = self.answer(question, context)
        labels, replies, judge_tokens = self.judge(question, answer)
        return QARecord(
            system=system,
            conversation=conversation,
            question_id=question.id,
            category=question.category,
            question=question.question,
            gold=question.answer,
            answer=answer,
            labels=labels,
            context_tokens=context_tokens,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            judge_tokens=judge_tokens,
            judge_replies=replies,
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
