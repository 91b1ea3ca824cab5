"""A question about its asker ("What book am I reading?") favours what the user said over the assistant's answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.filters import AllOf
from evermem_integrations.engine.models import Scope
from evermem_integrations.engine.recollection import (
    DEFAULT_KINDS,
    RecollectionConfig,
    ScopeReader,
    asks_about_the_user,
)
from evermem_integrations.engine.text import words

START = datetime(2023, 5, 1, 9, 0, tzinfo=UTC)
ADVICE = (  # an assistant's long answers: many sentences about books and reading, none about the user's book
    "Reading a good book before bed is a great habit. A book club keeps your reading on track. "
    "Audio books let you keep reading while you commute. Many readers track every book they finish. "
    "A reading challenge currently popular online is fifty books a year."
)
CHAT = [
    ("user", "How do I fit more time for it into a busy week?"),
    ("assistant", ADVICE),
    ("user", "By the way, the book I'm devouring these days, on the train and at lunch, is Piranesi!"),
    ("assistant", ADVICE.replace("great", "lovely")),
    ("user", "Thanks, that helps."),
    ("assistant", ADVICE.replace("great", "fine")),
]


def _engine(*, roles: bool = True, servers: tuple[str, str] | None = None, **config: float) -> EverMem:
    database_url, chroma_url = servers or (None, None)
    mem = EverMem(
        path=None,
        database_url=database_url,
        chroma_url=chroma_url,
        collection_name="asker",
        recollection=RecollectionConfig(**config),
    )
    mem.add(
        [
            {
                "sender": role,
                "role": role if roles else None,
                "content": text,
                "timestamp": START + timedelta(minutes=n),
            }
            for n, (role, text) in enumerate(CHAT)
        ],
        user_id="u",
    )
    mem.flush(user_id="u")
    return mem


def _ranking(mem: EverMem, question: str) -> list[str]:
    return [item.text for item in mem.search(question, user_id="u", kinds=["fact", "message"]).items]


def _places(ranking: list[str]) -> tuple[int, int]:
    """Where the user's book comes, and where the assistant's first line does."""
    book = next(n for n, text in enumerate(ranking) if "Piranesi" in text)
    return book, next(n for n, text in enumerate(ranking) if text.startswith("assistant:"))


def test_the_users_own_statement_comes_before_the_assistants_answers() -> None:
    with _engine() as mem:
        book, first_answer = _places(_ranking(mem, "What book am I currently reading?"))
        assert book < first_answer


@pytest.mark.integration
def test_the_servers_keep_the_role_for_ranking(database_url: str, chroma_url: str) -> None:
    with _engine(servers=(database_url, chroma_url)) as mem:
        book, first_answer = _places(_ranking(mem, "What book am I currently reading?"))
        assert book < first_answer


def _asker_rankings(mem: EverMem, candidates: list[str]) -> list[list[str]]:
    scope = Scope.of("u", None, None).key
    reader = ScopeReader(mem.records, scope)
    question = "What book am I currently reading?"
    return mem.recollector._asker_lookups(question, question, reader, "hybrid", DEFAULT_KINDS, AllOf(()), [candidates])


def test_the_asker_lookups_rank_only_what_the_assistant_did_not_say() -> None:
    # However many of the assistant's sentences fill the rankers' candidates, the user's
    # statement is ranked among the others' words.
    with _engine() as mem:
        answers = [f.id for f in mem.get(user_id="u", kind="fact", limit=100) if f.role == "assistant"]
        rankings = _asker_rankings(mem, answers)
        assert len(rankings) == 2 and all(rankings)
        texts = [[u.text for u in mem.records.units(Scope.of("u", None, None).key, ids).values()] for ids in rankings]
        assert all(not t.startswith("assistant:") for ranking in texts for t in ranking)
        assert any("Piranesi" in t for t in texts[0])


def test_without_an_assistant_among_the_candidates_there_is_nothing_to_set_apart() -> None:
    with _engine(roles=False) as mem:
        assert _asker_rankings(mem, [f.id for f in mem.get(user_id="u", kind="fact", limit=100)]) == []


def test_without_the_prior_the_assistants_answers_drown_it() -> None:
    # The control: ranked by words alone, the assistant's sentences about books come first.
    with _engine(subject_boost=0) as mem:
        book, first_answer = _places(_ranking(mem, "What book am I currently reading?"))
        assert book > first_answer


def test_facts_keep_the_role_they_were_said_in() -> None:
    with _engine() as mem:
        facts = mem.get(user_id="u", kind="fact", limit=100)
        assert {f.role for f in facts if f.subject == "assistant"} == {"assistant"}
        assert {f.role for f in facts if f.subject == "user"} == {"user"}


def test_without_roles_the_prior_changes_nothing() -> None:
    # A chat between people (no assistant role): every unit is the asker's side, so the order is the words' own.
    with _engine(roles=False) as plain, _engine(roles=False, subject_boost=0) as control:
        question = "What book am I currently reading?"
        assert _ranking(plain, question) == _ranking(control, question)


def test_a_question_about_the_assistant_is_not_about_the_user() -> None:
    assert asks_about_the_user(["what", "book", "am", "i", "reading"])
    assert asks_about_the_user(["where", "did", "i", "put", "my", "keys"])
    assert not asks_about_the_user(["when", "is", "ana's", "birthday"])
    # a request to the assistant is still about the user
    assert asks_about_the_user(words("I'm anxious about getting around Tokyo. Do you have any tips?"))
    assert asks_about_the_user(words("Can you recommend a restaurant for my trip?"))
    # what the assistant said is about the assistant's words
    assert not asks_about_the_user(words("What sealant did you recommend for my table?"))
    assert not asks_about_the_user(words("Which restaurant in Rome you recommended did I like?"))
    assert not asks_about_the_user(words("Can you remind me how many subjects were in the study?"))
    assert not asks_about_the_user(words("I was looking back at our previous chat: which bottles were they?"))
