"""Every prompt the LLM backend sends, as data.

Prompts live here and nowhere else so they can be read, reviewed and tuned in one place
(and diffed when a cassette is re-recorded). Each :class:`Prompt` has a system text and a
user template filled with :meth:`str.format`; the values substituted in are never
re-interpreted, so braces inside messages are safe. The response shape of each prompt is a
pydantic model in :mod:`evermem_integrations.engine.llm.schemas`, sent to the endpoint as a strict
JSON schema (structured outputs) where it takes one, so the texts below describe meaning, not
JSON syntax; :data:`SCHEMA_INSTRUCTION` carries the schema for endpoints that take none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict


class ChatMessage(TypedDict):
    """One chat-completions message (what the ``openai`` client takes)."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Prompt:
    """A system text and a user template.

    Attributes:
        name: a short identifier, used in logs.
        system: the system message, sent as is.
        user: the user message template; ``{placeholders}`` are filled by :meth:`render`.

    """

    name: str
    system: str
    user: str

    def render(self, **values: Any) -> list[ChatMessage]:
        """Build the chat messages: the system text, then the user template filled with ``values``."""
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user.format(**values)},
        ]


EXTRACTION = Prompt(
    name="extraction",
    system="""\
You write the long-term memory of a conversation. You receive one episode: a few chat \
messages, each with its id, time and sender. Write what a reader needs to remember it \
months later, using only what the messages say.

Rules:
- Third person, names instead of pronouns: never "I", "you", "he", "she" or "they" for a \
participant; write "Caroline", "Melanie".
- Absolute dates: every relative time gets its date from the message's time, e.g. \
"yesterday (7 May 2023)", "next month (June 2023)", "last weekend (6-7 May 2023)".
- Keep every name, number, place and title exactly as written. Do not add anything the \
messages do not say; do not guess.
- Write in the language of the conversation.

Produce:
- title: 3 to 8 words naming what the episode is about.
- episode: a narrative of the whole episode in a few sentences, in time order, starting \
with its date ("On 8 May 2023, Caroline told Melanie ...").
- facts: atomic statements, one piece of information each (who did, has, likes or plans \
what, with absolute dates), each standing alone without the episode. source_message_ids \
lists the ids of the messages that state it (copy them exactly from the transcript). Set \
attribute and value only for a single-valued property of the subject that a later \
statement would replace: "residence", "occupation", "employer", "relationship status", \
"age", "hometown"; otherwise set both to null. Do not make facts from greetings or \
questions that state nothing.
- foresight: plans, intentions and temporary situations that will change: text, start \
(ISO date, usually the message's day), end (ISO date until which it holds or matters, or \
null when unknown), source_message_ids.
- profile: what the episode reveals about a participant as a person. category "trait" for \
stable characteristics (occupation, hobbies, preferences, values, family, home) and \
"state" for temporary conditions (tired, injured, on holiday, preparing an exam) with \
valid_until (ISO date, or null for about a week). attribute is a short lowercase key \
("occupation", "likes", "favorite book", "feeling"), value the short answer, text one \
sentence, multi_valued true when several values hold at once (things one likes).""",
    user="""\
Participants: {participants}
Episode time: {time_range}

Messages (id | time | sender: text):
{transcript}

Write the memory of this episode.""",
)


BOUNDARY = Prompt(
    name="boundary",
    system="""\
You split a chat into episodes for a memory system. An episode is one coherent exchange \
about one topic or activity, usually 3 to 20 back-and-forth turns. A new episode starts \
where the conversation turns to a clearly different topic, or resumes after a pause with \
something new. Small talk (greetings, thanks, goodbyes) stays with the episode it opens or \
closes and never starts one on its own. Prefer fewer, fuller episodes: do not split a topic \
because the wording changes.

Answer with the numbers of the messages that START a new episode (never 0). Return an \
empty list when all messages belong to one episode.""",
    user="""\
{tail_note}

Messages (number | time | sender: text):
{transcript}

Which messages start a new episode?""",
)

BOUNDARY_OPEN_TAIL_NOTE = (
    "The conversation is still going on: more messages will follow the last one shown, so do "
    "not start an episode just because the list ends."
)
BOUNDARY_CLOSED_NOTE = "These messages are complete: nothing follows the last one shown."


SUFFICIENCY = Prompt(
    name="sufficiency",
    system="""\
You judge whether retrieved memories are enough to answer a question, and if not, you \
write search queries that would find what is missing. The memories are notes about past \
conversations, grouped by date.

sufficient: true only if the memories contain every piece of information the answer needs \
(for questions about time, the date itself). missing: what information is absent, in one \
sentence (empty when sufficient). queries: when not sufficient, 2 or 3 new search queries \
that differ from the question and from each other:
1. the question rephrased with the names and key terms spelled out;
2. a hypothetical answer, written like a memory note would state it ("Caroline went to ...");
3. when time matters, a variant naming the period or event ("Caroline's plans in June \
2023"); otherwise another angle on the missing information.
When sufficient, queries is an empty list. Write in the language of the question.""",
    user="""\
Question: {query}

Retrieved memories:
{context}""",
)


REWRITE = Prompt(
    name="rewrite",
    system="""\
You write search queries for a memory system that holds notes about past conversations. \
Given a question, what was retrieved so far and what is missing, write 2 or 3 new search \
queries that differ from the question and from each other:
1. the question rephrased with the names and key terms spelled out;
2. a hypothetical answer, written like a memory note would state it ("Caroline went to ...");
3. when time matters, a variant naming the period or event ("Caroline's plans in June \
2023"); otherwise another angle on the missing information.
Write in the language of the question.""",
    user="""\
Question: {query}
Missing: {missing}

Retrieved so far:
{context}""",
)

EMPTY_CONTEXT = "(nothing found)"
"""What the planner prompts show when the first round retrieved nothing."""

SCHEMA_INSTRUCTION = (
    "Answer with one JSON object and nothing else (no prose, no Markdown), matching this JSON schema:\n{schema}"
)
"""Appended to the system text when the endpoint cannot constrain the answer to a schema itself."""

REPAIR = (
    "That answer is not valid: {error}. Answer again with only the corrected JSON object, every required field present."
)
"""The user turn that asks once for a corrected answer, after the model's invalid one."""
