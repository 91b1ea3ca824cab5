"""Phase I, part two: turning an episode's messages into a MemCell's content.

Two backends share the :class:`Extractor` protocol. This module holds the offline one:
deterministic, fast and network-free. A fact is a sentence as its speaker said it, named
by the speaker ("Ana: I live in Porto.") with each relative date followed by its absolute
date; nothing is rewritten, so nothing is garbled or invented. Profile statements are read
by the rules of :mod:`~evermem_integrations.engine.profile_rules`. The LLM backend lives in
:mod:`evermem_integrations.engine.llm`.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from evermem_integrations.engine.models import Message
from evermem_integrations.engine.profile_rules import read_profile
from evermem_integrations.engine.text import (
    STOP_WORDS,
    WORD_PATTERN,
    TextPiece,
    chinese_keywords,
    content_words,
    has_cjk,
    is_question,
    sentence_spans,
)
from evermem_integrations.engine.timeparse import DateNote, TimeExpression, date_notes, format_day, shift, with_notes


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
    origin: Literal["message", "metadata"] = "message"
    """``metadata`` for what the conversation metadata seeds (``user_details``): any statement in
    the chat supersedes it, whatever the dates."""


class Extraction(BaseModel):
    """Everything an extractor derives from one episode."""

    title: str
    episode: str
    facts: list[FactDraft] = Field(default_factory=list)
    foresight: list[ForesightDraft] = Field(default_factory=list)
    profile: list[ProfileDraft] = Field(default_factory=list)
    date_notes: dict[str, list[DateNote]] = Field(default_factory=dict)
    """Where each message's text gets its dates (message id -> notes), if the extractor dated it
    sentence by sentence (:func:`message_date_notes`): its units are dated from these."""


class Extractor(Protocol):
    """Derives a MemCell's narrative, facts, foresight and profile statements."""

    def extract(self, messages: Sequence[Message], participants: Sequence[str]) -> Extraction:
        """Extract from the messages of one episode."""
        ...


# -- foresight: plans and recurring schedules -------------------------------------------------
_FUTURE = re.compile(
    r"\b(going to|gonna|will|'ll|plan(?:ning)? to|intend to|hope to|can't wait to|looking forward to|"
    r"about to|thinking of|thinking about|scheduled|booked|appointment|signed up|have to|need to)\b"
    r"|要|打算|准备|计划|将要|会去",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I'll|I've|I'd|we|we're|we'll|my|our|me|us)\b|我", re.IGNORECASE)
# A schedule of one's own has the speaker as its subject: "we meet every Tuesday", not "our neighbour
# feeds her twice a day".
_FIRST_PERSON_SUBJECT = re.compile(r"\b(?:I|I'm|I'll|I've|I'd|we|we're|we'll|we've)\b|我", re.IGNORECASE)
# Replies that acknowledge or wish well are no plans, even with "will" in them
# ("Great, Pepper will be in good hands.").
_ACKNOWLEDGEMENT = re.compile(
    r"^(?:great|perfect|awesome|cool|ok|okay|sure|thanks|thank you|sounds (?:good|great|lovely)|nice|wonderful|"
    r"good luck|no problem|of course|haha|lol|yay|glad|lovely|noted|got it|absolutely|fantastic|amazing|"
    r"that's (?:great|good|wonderful|amazing)|好的|谢谢|太好了)\b",
    re.IGNORECASE,
)
_UNDATED_PLAN_DAYS = 30
"""A plan with no date ("I'm going to try pottery") is kept this long."""
_STATE_DAYS = 7


@dataclass(frozen=True)
class _Sentence:
    """One sentence of a message: as said, with its dates annotated, and what was read from it."""

    said: str
    annotated: str
    times: list[TimeExpression]
    content: tuple[str, ...]
    """Its content words, as said: whether it holds a statement, and what it is about, both ask."""

    @property
    def is_question(self) -> bool:
        return is_question(self.said)


def message_text(message: Message) -> str:
    """The text of a message including what an attached image shows, when known."""
    caption = message.metadata.get("image_caption")
    return f"{message.content} [shared an image: {caption}]" if caption else message.content


def attributed(speaker: str, sentence: str) -> str:
    """A sentence as its speaker said it, named by the speaker ("Ana: I live in Porto.")."""
    return f"{speaker}: {sentence}"


class OfflineExtractor:
    """The default extractor: rule-based, deterministic and network-free."""

    def __init__(self, min_content_words: int = 2, narrative_sentences: int = 4) -> None:
        self.min_content_words = min_content_words
        self.narrative_sentences = narrative_sentences

    def extract(self, messages: Sequence[Message], participants: Sequence[str]) -> Extraction:
        """See :class:`Extractor`."""
        facts: list[FactDraft] = []
        foresight: list[ForesightDraft] = []
        profile: list[ProfileDraft] = []
        statements: list[tuple[Message, _Sentence]] = []
        dated: dict[str, list[DateNote]] = {}
        for message in messages:
            speaker = message.sender
            # Only people get a profile and plans; an assistant's "I'll remind you" is neither.
            personal = message.role != "assistant"
            notes_of_message: list[DateNote] = []
            for span, notes, times in _dated_sentences(message_text(message), message.timestamp):
                said = span.text
                annotated = with_notes(said, notes, offset=span.start)
                notes_of_message += notes
                sentence = _Sentence(said, annotated, times, tuple(content_words(said)))
                text = attributed(speaker, annotated)
                drafts = _profile_drafts(sentence, speaker, message, text) if personal else []
                profile.extend(drafts)
                if personal:
                    foresight.extend(_foresight(sentence, speaker, message, text, drafts))
                if len(sentence.content) < self.min_content_words or _is_pure_question(sentence):
                    continue
                statements.append((message, sentence))
                keyed = next((d for d in drafts if not d.multi_valued and d.category == "trait"), None)
                facts.append(
                    FactDraft(
                        subject=speaker,
                        text=text,
                        timestamp=message.timestamp,
                        source_message_ids=[message.id],
                        attribute=keyed.attribute if keyed else None,
                        value=keyed.value if keyed else None,
                    )
                )
            dated[message.id] = notes_of_message
        title = episode_title(messages, participants)
        opening = f"On {format_day(messages[0].timestamp)}, {' and '.join(participants)} talked about {title}."
        salient = _salient(statements, participants, self.narrative_sentences)
        narrative = " ".join([opening, *(attributed(m.sender, s.annotated) for m, s in salient)])
        return Extraction(
            title=title, episode=narrative, facts=facts, foresight=foresight, profile=profile, date_notes=dated
        )


def _dated_sentences(
    text: str, reference: datetime
) -> Iterator[tuple[TextPiece, list[DateNote], list[TimeExpression]]]:
    """Each sentence of ``text`` with where its dates go (in ``text``) and the time expressions it holds."""
    for span in sentence_spans(text):
        notes, times = date_notes(span.text, reference)
        yield span, [DateNote(span.start + at, note) for at, note in notes], times


def message_date_notes(text: str, reference: datetime) -> list[DateNote]:
    """Where the dates go in a message's ``text``: sentence by sentence, as its facts are dated.

    A sentence is the context a relative date is read in ("next Friday" in a sentence in the
    past tense), so a message reads as its facts do, whichever unit shows it.
    """
    return [note for _, notes, _ in _dated_sentences(text, reference) for note in notes]


def _is_pure_question(sentence: _Sentence) -> bool:
    # "What's up?" carries no fact; "Have you seen my new painting?" still mentions one.
    return sentence.is_question and len(sentence.content) < 4


def _profile_drafts(sentence: _Sentence, speaker: str, message: Message, text: str) -> list[ProfileDraft]:
    drafts = [
        ProfileDraft(
            subject=speaker,
            category=reading.category,
            attribute=reading.attribute,
            value=reading.value,
            text=text,
            evidence=[message.id],
            timestamp=message.timestamp,
            valid_until=shift(message.timestamp, timedelta(days=_STATE_DAYS)) if reading.category == "state" else None,
            multi_valued=reading.multi_valued,
        )
        for reading in read_profile(sentence.said)
    ]
    recurring = [t for t in sentence.times if t.recurring]
    if recurring and not sentence.is_question and _FIRST_PERSON_SUBJECT.search(sentence.said):
        drafts.append(
            ProfileDraft(
                subject=speaker,
                category="trait",
                attribute="schedule",
                value=sentence.said.rstrip(".!。！ "),
                text=text,
                evidence=[message.id],
                timestamp=message.timestamp,
                multi_valued=True,
            )
        )
    return drafts


def _foresight(
    sentence: _Sentence, speaker: str, message: Message, text: str, drafts: Sequence[ProfileDraft]
) -> list[ForesightDraft]:
    """Plans (valid until their date has passed), recurring schedules and temporary states."""
    found = [
        ForesightDraft(
            subject=speaker, text=text, start=message.timestamp, end=d.valid_until, source_message_ids=[message.id]
        )
        for d in drafts
        if d.category == "state"
    ]
    if sentence.is_question or _ACKNOWLEDGEMENT.match(sentence.said):
        return found
    dated = [t for t in sentence.times if t.future and not t.recurring]
    recurring = [t for t in sentence.times if t.recurring]
    if dated:
        end: datetime | None = max(t.until for t in dated)
    elif recurring and _FIRST_PERSON.search(sentence.said):
        end = None  # a schedule holds until it is changed
    elif _FUTURE.search(sentence.said) and _FIRST_PERSON.search(sentence.said) and not sentence.times:
        end = shift(message.timestamp, timedelta(days=_UNDATED_PLAN_DAYS))
    else:
        return found
    found.append(
        ForesightDraft(subject=speaker, text=text, start=message.timestamp, end=end, source_message_ids=[message.id])
    )
    return found


def _salient(
    statements: Sequence[tuple[Message, _Sentence]], participants: Sequence[str], count: int
) -> list[tuple[Message, _Sentence]]:
    """The episode's most informative sentences, in the order they were said.

    A sentence scores by the episode-frequent content words it holds (what the episode is
    about), with a bonus for dates and names; short replies score low.
    """
    if len(statements) <= count:
        return list(statements)
    names = {w.lower() for p in participants for w in p.split()}
    frequency = Counter(w for _, s in statements for w in set(s.content) if w not in names)

    def score(item: tuple[int, tuple[Message, _Sentence]]) -> float:
        sentence = item[1][1]
        terms = set(sentence.content) - names
        topical = sum(frequency[w] - 1 for w in terms) / (1 + len(terms)) ** 0.5
        return topical + 1.5 * bool(sentence.times) + 0.5 * len(_ENTITY.findall(sentence.said[1:]))

    chosen = sorted(enumerate(statements), key=score, reverse=True)[:count]
    return [item for _, item in sorted(chosen, key=lambda pair: pair[0])]


# -- titles -----------------------------------------------------------------------------------
# Words frequent in any chat that say nothing about its topic (kept out of titles).
_TITLE_FILLER = STOP_WORDS | frozenset(
    """great awesome cool good amazing nice glad love lovely shared share image photo picture
    pic really sure thing things time make made going keep take taking last lots feel
    feeling think know want need right well little pretty totally super definitely always
    never every tell told said says look looks looking sounds sound happy fun hope hear
    week weeks night nights day days today tonight tomorrow yesterday morning evening probably maybe
    actually something anything everything someone anyone way ways bit kind sort stuff yeah yep
    wanted thought thinking let lets sounds glad thanks thank welcome course next soon year years
    month months back still even though start started getting got give gave come came went
    much many more most lot new old first last ever talk talked talking help helps helped try
    tried trying work working worked place places people person finally honestly literally basically
    already again later ago soon nervous excited monday tuesday wednesday thursday friday saturday sunday
    january february march april june july august september october november december""".split()
)
_ENTITY = re.compile(r"(?<![.!?]\s)\b(?:[A-Z][a-z]+(?:\s[A-Z][a-z]+)*|[A-Z]{2,})\b")
# A word as ``text.words`` reads one, or (as "") a punctuation mark, which ends a title phrase.
_TITLE_TOKEN = re.compile(rf"({WORD_PATTERN})|[^\w'\s-]")


def episode_title(messages: Sequence[Message], participants: Sequence[str], count: int = 3) -> str:
    """A short keyphrase title, e.g. 'dentist appointment, Dr. Okafor, crown'.

    Candidates are runs of up to three content words; a phrase scores by how often its words
    recur in the episode, longer phrases and named things (capitalised mid-sentence) first.
    Chinese text gets jieba's TF-IDF keywords. Off-the-shelf keyphrase extractors (YAKE,
    TextRank) were tried on LoCoMo's chats: they pick names and interjections and cost
    15-18 ms an episode, where this costs well under one.
    """
    names = {w.lower() for p in participants for w in p.split()}
    texts = [message_text(m) for m in messages]
    frequency = Counter(w for t in texts for w in content_words(t) if w not in names)
    usable: dict[str, bool] = {}
    occurrences: Counter[str] = Counter()
    as_entity: Counter[str] = Counter()  # occurrences in a message that capitalises the phrase mid-sentence
    keywords: defaultdict[str, float] = defaultdict(float)
    for text in texts:
        phrases = Counter(_candidate_phrases(text, names, usable))
        occurrences.update(phrases)
        for entity in {e.lower() for e in _ENTITY.findall(text)} & phrases.keys():
            as_entity[entity] += phrases[entity]
        if has_cjk(text):
            for keyword, weight in chinese_keywords(text, 3):
                keywords[keyword] += 2 * weight
    scores: dict[str, float] = {}
    for phrase, times in occurrences.items():
        words_of = phrase.split()
        weight = sum(frequency[w] for w in words_of) * (1.0 + 0.5 * (len(words_of) - 1))
        named = as_entity[phrase]
        # An adverb or a verb form alone names no topic.
        plain = 0.5 if len(words_of) == 1 and phrase.endswith(("ly", "ed", "ing")) else 1.0
        scores[phrase] = weight * (1.5 * named + plain * (times - named))
    for keyword, weight in keywords.items():
        scores[keyword] = scores.get(keyword, 0.0) + weight
    chosen: list[str] = []
    used: set[str] = set()
    for phrase, _ in sorted(scores.items(), key=lambda item: -item[1]):
        parts = set(phrase.split())
        if parts & used:
            continue
        chosen.append(phrase)
        used |= parts
        if len(chosen) == count:
            break
    return ", ".join(chosen) if chosen else "small talk"


def _candidate_phrases(text: str, names: set[str], usable: dict[str, bool]) -> list[str]:
    """Runs of one to three content words (lower case) not broken by punctuation.

    ``usable`` remembers, per word, whether it may stand in a title; a Chinese run never does
    (jieba's keywords name those episodes) and a punctuation mark (``""``) ends a run.
    """
    tokens = _TITLE_TOKEN.findall(text.lower())
    for word in set(tokens) - usable.keys():
        usable[word] = bool(
            word
            and word not in _TITLE_FILLER
            and word not in names
            and len(word) > 2
            and not word.isdigit()
            and not has_cjk(word)
        )
    phrases: list[str] = []
    for keep, group in itertools.groupby(tokens, usable.__getitem__):
        if keep:
            run = list(group)
            phrases += run
            phrases += map(" ".join, itertools.pairwise(run))
            phrases += map(" ".join, zip(run, run[1:], run[2:], strict=False))
    return phrases
