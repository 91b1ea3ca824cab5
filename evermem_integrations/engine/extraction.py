"""Phase I, part two: turning an episode's messages into a MemCell's content.

Two backends share the :class:`Extractor` protocol. This module holds the offline one:
deterministic, fast and network-free. It only rewrites what was said (first and second
person resolved to names, relative dates given their absolute date); it invents nothing.
The LLM backend lives in :mod:`evermem_integrations.engine.llm`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from evermem_integrations.engine.models import Message
from evermem_integrations.engine.text import STOP_WORDS, content_words, split_sentences
from evermem_integrations.engine.timeparse import format_day, resolve_relative_dates, shift


class FactDraft(BaseModel):
    """A fact before it gets an id and a MemCell."""

    subject: str
    text: str
    timestamp: datetime
    source_message_ids: list[str]
    attribute: str | None = None
    value: str | None = None


class ForesightDraft(BaseModel):
    """A plan or temporary state before it gets an id."""

    subject: str
    text: str
    start: datetime
    end: datetime | None
    source_message_ids: list[str]


class ProfileDraft(BaseModel):
    """A profile statement: ``trait`` (stable) or ``state`` (temporary, with an end)."""

    subject: str
    category: Literal["trait", "state"]
    attribute: str
    value: str
    text: str
    evidence: list[str]
    timestamp: datetime
    valid_until: datetime | None = None
    multi_valued: bool = False
    """Several values may hold at once (things one likes); otherwise a new value supersedes."""


class Extraction(BaseModel):
    """Everything an extractor derives from one episode."""

    title: str
    episode: str
    facts: list[FactDraft] = Field(default_factory=list)
    foresight: list[ForesightDraft] = Field(default_factory=list)
    profile: list[ProfileDraft] = Field(default_factory=list)


class Extractor(Protocol):
    """Derives a MemCell's narrative, facts, foresight and profile statements."""

    def extract(self, messages: Sequence[Message], participants: Sequence[str]) -> Extraction:
        """Extract from the messages of one episode."""
        ...


# -- pronoun resolution: (pattern, replacement with {s} = speaker, {a} = addressee) --------
_FIRST_PERSON: list[tuple[str, str]] = [
    (r"\bI'm\b|\bI am\b", "{s} is"),
    (r"\bI've\b|\bI have\b", "{s} has"),
    (r"\bI'll\b", "{s} will"),
    (r"\bI'd\b", "{s} would"),
    (r"\bI was\b", "{s} was"),
    (r"\bI\b", "{s}"),
    (r"\bmyself\b", "{s}"),
    (r"\b[Mm]y\b", "{s}'s"),
    (r"\bmine\b", "{s}'s"),
    (r"\bme\b", "{s}"),
]
_SECOND_PERSON: list[tuple[str, str]] = [
    (r"\b[Yy]ou're\b|\b[Yy]ou are\b", "{a} is"),
    (r"\b[Yy]ou've\b|\b[Yy]ou have\b", "{a} has"),
    (r"\b[Yy]ou'll\b", "{a} will"),
    (r"\b[Yy]ou'd\b", "{a} would"),
    (r"\b[Yy]ou were\b", "{a} was"),
    (r"\b[Yy]ourself\b", "{a}"),
    (r"\b[Yy]our\b", "{a}'s"),
    (r"\b[Yy]ours\b", "{a}'s"),
    (r"\b[Yy]ou\b", "{a}"),
]
# "I love" must become "Caroline loves": frequent present-tense verbs after "I" (and an
# optional adverb) get their third-person form before the pronoun itself is replaced.
_VERBS = """love like hate want need think feel know hope work live enjoy miss wish guess mean plan
    believe remember agree prefer cherish appreciate use keep get make take see say find
    play paint read write run cook teach volunteer care""".split()
_IRREGULAR = {"do": "does", "go": "goes", "try": "tries", "watch": "watches", "wish": "wishes", "miss": "misses"}
_ADVERB = r"(?:(?:really|also|just|still|always|never|usually|often|actually|totally|definitely|truly) )?"
_FIRST_PERSON_VERB = re.compile(rf"\bI ({_ADVERB})({'|'.join(_VERBS + list(_IRREGULAR))})\b")
_COMPILED_FIRST = [(re.compile(p), r) for p, r in _FIRST_PERSON]
_COMPILED_SECOND = [(re.compile(p), r) for p, r in _SECOND_PERSON]

# -- foresight: future intentions and short-lived states ------------------------------------
_FUTURE = re.compile(
    r"\b(going to|gonna|will|'ll|plan(?:ning)? to|intend to|hope to|can't wait to|looking forward to|"
    r"next (?:week|weekend|month|year|summer|winter|spring|fall)|tomorrow|soon|upcoming|this weekend|"
    r"about to|thinking of|thinking about)\b",
    re.IGNORECASE,
)
_DEFAULT_PLAN_DAYS = 30
_STATE_DAYS = 7

# -- profile statements: (pattern, category, attribute, multi_valued) ------------------------
# Group 1 is the value. Patterns are anchored on the first person so they only read what the
# speaker says about themselves.
_PROFILE_PATTERNS: list[tuple[str, Literal["trait", "state"], str, bool]] = [
    (r"\bmy name is ([A-Z][\w-]+(?: [A-Z][\w-]+)?)", "trait", "name", False),
    (r"\bI(?:'m| am) (\d{1,3}) years? old\b", "trait", "age", False),
    (
        r"\bI (?:work|am working|'m working) as (?:an? )?([\w -]{3,40}?)(?=[,.!?]| at | for |$)",
        "trait",
        "occupation",
        False,
    ),
    (r"\bI (?:work|am working|'m working) (?:at|for) ([\w&' -]{2,40}?)(?=[,.!?]| as |$)", "trait", "employer", False),
    (r"\bmy job is (?:an? )?([\w -]{3,40}?)(?=[,.!?]|$)", "trait", "occupation", False),
    (
        r"\b(?:I|[Ww]e) (?:just |recently |finally )?(?:moved|relocated) to ([A-Z][\w-]+(?: [A-Z][\w-]+)?)",
        "trait",
        "residence",
        False,
    ),
    (r"\b(?:I|[Ww]e) (?:currently |still )?live in ([A-Z][\w-]+(?: [A-Z][\w-]+)?)", "trait", "residence", False),
    (r"\bI(?:'m| am) (?:originally )?from ([A-Z][\w-]+(?: [A-Z][\w-]+)?)", "trait", "hometown", False),
    (r"\bmy fav(?:ou?rite) ([\w ]{2,30}?) (?:is|are|was) ([^,.!?]{2,60})", "trait", "favorite", False),
    (r"\bI (?:really |absolutely )?(?:love|enjoy|adore) ([a-z][^,.!?]{2,50})", "trait", "likes", True),
    (
        r"\bI(?:'m| am) (?:really |so |very |pretty )?(?:passionate about|into|a big fan of) ([^,.!?]{2,50})",
        "trait",
        "likes",
        True,
    ),
    (r"\bI (?:hate|can't stand|dislike) ([a-z][^,.!?]{2,50})", "trait", "dislikes", True),
    (
        r"\bI(?:'m| am) (married|single|engaged|divorced|a (?:mom|dad|mother|father|parent))\b",
        "trait",
        "family status",
        False,
    ),
    (
        r"\bI(?:'m| am) (?:feeling |so |really |very |a bit |pretty )*"
        r"(tired|exhausted|sick|ill|stressed|swamped|busy|anxious|nervous|sad|down|excited|happy|overwhelmed|injured|pregnant)\b",
        "state",
        "feeling",
        False,
    ),
]
_COMPILED_PROFILE = [
    (re.compile(p, re.IGNORECASE if a not in ("residence", "hometown", "name") else 0), c, a, m)
    for p, c, a, m in _PROFILE_PATTERNS
]


def addressee(messages: Sequence[Message], index: int, participants: Sequence[str]) -> str | None:
    """Who "you" most likely is: the other party of a dialogue, else the previous speaker."""
    speaker = messages[index].sender
    others = [p for p in participants if p != speaker]
    if len(others) == 1:
        return others[0]
    for previous in reversed(messages[:index]):
        if previous.sender != speaker:
            return previous.sender
    return None


def third_person(sentence: str, speaker: str, other: str | None) -> str:
    """Rewrite first (and, with a known addressee, second) person as names."""
    sentence = _FIRST_PERSON_VERB.sub(
        lambda m: f"{speaker} {m.group(1)}{_IRREGULAR.get(m.group(2), m.group(2) + 's')}", sentence
    )
    for pattern, replacement in _COMPILED_FIRST:
        sentence = pattern.sub(replacement.format(s=speaker), sentence)
    if other is not None:
        for pattern, replacement in _COMPILED_SECOND:
            sentence = pattern.sub(replacement.format(a=other), sentence)
    return sentence


def message_text(message: Message) -> str:
    """The text of a message including what an attached image shows, when known."""
    caption = message.metadata.get("image_caption")
    return f"{message.content} [shared an image: {caption}]" if caption else message.content


class OfflineExtractor:
    """The default extractor: rule-based, deterministic and network-free."""

    def __init__(self, min_content_words: int = 2) -> None:
        self.min_content_words = min_content_words

    def extract(self, messages: Sequence[Message], participants: Sequence[str]) -> Extraction:
        """See :class:`Extractor`."""
        facts: list[FactDraft] = []
        foresight: list[ForesightDraft] = []
        profile: list[ProfileDraft] = []
        narrative: list[str] = []
        for index, message in enumerate(messages):
            speaker = message.sender
            other = addressee(messages, index, participants)
            resolved_sentences = []
            for sentence in split_sentences(message_text(message)):
                resolved, expressions = resolve_relative_dates(sentence, message.timestamp)
                statement = with_subject(third_person(resolved, speaker, other), speaker)
                resolved_sentences.append(statement)
                # Profile patterns read short sentences too ("I'm so exhausted."); assistants get no profile.
                keyed = (
                    [] if message.role == "assistant" else _profile_statements(sentence, speaker, message, statement)
                )
                profile.extend(keyed)
                for state in (p for p in keyed if p.category == "state"):
                    foresight.append(
                        ForesightDraft(
                            subject=speaker,
                            text=statement,
                            start=message.timestamp,
                            end=state.valid_until,
                            source_message_ids=[message.id],
                        )
                    )
                if len(content_words(sentence)) < self.min_content_words or _is_pure_question(sentence):
                    continue
                single = next((p for p in keyed if not p.multi_valued and p.category == "trait"), None)
                facts.append(
                    FactDraft(
                        subject=speaker,
                        text=statement,
                        timestamp=message.timestamp,
                        source_message_ids=[message.id],
                        attribute=single.attribute if single else None,
                        value=single.value if single else None,
                    )
                )
                plan = _FUTURE.search(sentence)
                future_dates = [e.moment for e in expressions if e.future]
                if plan or future_dates:
                    end = shift(
                        max(future_dates) if future_dates else message.timestamp, timedelta(days=_DEFAULT_PLAN_DAYS)
                    )
                    foresight.append(
                        ForesightDraft(
                            subject=speaker,
                            text=statement,
                            start=message.timestamp,
                            end=end,
                            source_message_ids=[message.id],
                        )
                    )
            narrative.append(" ".join(resolved_sentences))
        title = episode_title(messages, participants)
        opening = f"On {format_day(messages[0].timestamp)}, {' and '.join(participants)} talked about {title}."
        return Extraction(
            title=title, episode=" ".join([opening, *narrative]), facts=facts, foresight=foresight, profile=profile
        )


def with_subject(statement: str, speaker: str) -> str:
    """``statement`` naming its speaker, prefixed with the name when it does not already."""
    # Every fact names who said it, so it stands alone when retrieved out of its episode.
    if speaker.lower() in statement.lower():
        return statement
    return f"{speaker}: {statement}"


def _is_pure_question(sentence: str) -> bool:
    # "What's up?" carries no fact; "Have you seen my new painting?" still mentions one.
    return sentence.rstrip().endswith("?") and len(content_words(sentence)) < 4


def _profile_statements(sentence: str, speaker: str, message: Message, statement: str) -> list[ProfileDraft]:
    found = []
    for pattern, category, attribute, multi_valued in _COMPILED_PROFILE:
        match = pattern.search(sentence)
        if not match:
            continue
        if attribute == "favorite":
            key, value = f"favorite {match.group(1).strip().lower()}", match.group(2).strip()
        else:
            key, value = attribute, match.group(1).strip()
        found.append(
            ProfileDraft(
                subject=speaker,
                category=category,
                attribute=key,
                value=value,
                text=statement,
                evidence=[message.id],
                timestamp=message.timestamp,
                valid_until=shift(message.timestamp, timedelta(days=_STATE_DAYS)) if category == "state" else None,
                multi_valued=multi_valued,
            )
        )
    return found


# Words frequent in any chat that say nothing about its topic (kept out of titles).
_TITLE_FILLER = STOP_WORDS | frozenset(
    """great awesome cool good amazing nice glad love lovely shared share image photo picture
    pic really sure thing things time make made going keep take taking last lots feel
    feeling think know want need right well little pretty totally super definitely always
    never every tell told said says look looks looking sounds sound happy fun hope hear""".split()
)


def episode_title(messages: Sequence[Message], participants: Sequence[str]) -> str:
    """The episode's most frequent content words (names excluded), e.g. 'adoption, painting'."""
    names = {w.lower() for p in participants for w in p.split()}
    counts = Counter(
        w
        for m in messages
        for w in content_words(message_text(m))
        if w not in names and len(w) > 3 and not w.isdigit() and w not in _TITLE_FILLER
    )
    top = [w for w, _ in counts.most_common(4)]
    return ", ".join(top) if top else "small talk"
