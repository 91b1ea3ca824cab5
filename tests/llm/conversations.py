"""Small conversations written for these tests (not LoCoMo data), shared with the cassettes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def chat(lines: list[tuple[str, str]], start: datetime, *, prefix: str, minutes: int = 1) -> list[dict[str, Any]]:
    """Messages ``{prefix}-0, {prefix}-1, ...`` from ``(sender, text)`` pairs, a minute apart."""
    return [
        {
            "id": f"{prefix}-{i}",
            "sender": sender,
            "content": text,
            "timestamp": (start + timedelta(minutes=minutes * i)).isoformat(),
        }
        for i, (sender, text) in enumerate(lines)
    ]


MAY_8 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)

# Eight messages, one episode: ids c-0 .. c-7, 8 May 2023 from 13:56, a minute apart.
SUPPORT_GROUP = chat(
    [
        ("Caroline", "Hey Mel! Guess what, I went to an LGBTQ support group yesterday and it was so powerful."),
        ("Melanie", "Wow Caroline, that's great! What happened there?"),
        (
            "Caroline",
            "People shared their transgender stories. "
            "It made me want to work as a counselor for kids who need support.",
        ),
        ("Melanie", "You'd be amazing at that. I just finished a painting of a sunset by the lake, by the way."),
        ("Caroline", "I'd love to see it! Are you still living in Boston?"),
        ("Melanie", "No, we moved to Denver last month, the kids love it."),
        ("Caroline", "Nice! I'm planning to go camping with friends next weekend."),
        ("Melanie", "Have fun! I'm a bit tired today, long week."),
    ],
    MAY_8,
    prefix="c",
)

# Forty messages in one sitting (no time gap), three topics: ids d-0 .. d-39.
# d-0 .. d-13: Jon's dance studio; d-14 .. d-27: Gina's clothing store; d-28 .. d-39: a trip to Paris.
THREE_TOPICS = chat(
    [
        ("Jon", "Hey Gina, long time no see! How have you been?"),
        ("Gina", "Hi Jon! Pretty good. What's new with you?"),
        ("Jon", "Big news: I lost my job at the bank last month, so I'm finally opening my own dance studio."),
        ("Gina", "No way! That's brave. Where will the studio be?"),
        ("Jon", "Downtown, in an old warehouse near the river. The rent is reasonable and the floor space is huge."),
        ("Gina", "That sounds perfect for dance classes. What styles will you teach?"),
        ("Jon", "Mostly contemporary and hip hop, plus a ballroom evening class for couples."),
        ("Gina", "Ballroom for couples is a great idea, people love that for weddings."),
        ("Jon", "Exactly, I already have three couples signed up for June."),
        ("Gina", "When is the grand opening?"),
        ("Jon", "The grand opening is planned for the 20th of June, with a free showcase."),
        ("Gina", "I'll be there for sure. Do you need help with the decoration?"),
        ("Jon", "That would be amazing, I'm terrible at picking colours."),
        ("Gina", "Deal, I'll bring some fabric samples next week."),
        ("Gina", "Speaking of fabric, my online clothing store finally launched last Friday!"),
        ("Jon", "Congratulations! What do you sell?"),
        ("Gina", "Mostly streetwear that I design myself, hoodies and jackets with hand-printed patterns."),
        ("Jon", "Hand-printed? That must take forever."),
        ("Gina", "It does, each jacket takes about three hours, but customers love that every piece is unique."),
        ("Jon", "How are sales going so far?"),
        ("Gina", "I sold forty pieces in the first week, mostly through Instagram."),
        ("Jon", "Forty in a week is impressive for a new store."),
        ("Gina", "Thanks! I'm thinking about hiring a part-time assistant for the packing."),
        ("Jon", "Makes sense, you can't do everything alone."),
        ("Gina", "Exactly. I also want to try a pop-up stand at the summer street market."),
        ("Jon", "You should, the street market gets huge crowds in July."),
        ("Gina", "I'll apply for a stand this week then."),
        ("Jon", "Let me know if you want me to help carry stuff."),
        ("Jon", "By the way, I'm flying to Paris in August for a dance workshop."),
        ("Gina", "Paris! I've always wanted to go. How long will you stay?"),
        ("Jon", "Ten days. The workshop is five days and then I'll explore the city."),
        ("Gina", "You have to visit the Musée d'Orsay, it's my favourite museum."),
        ("Jon", "Noted! Any food recommendations?"),
        ("Gina", "Try the crêpes in Montmartre and a proper croissant from a local bakery."),
        ("Jon", "I will. I'm also hoping to see a show at the Opéra Garnier."),
        ("Gina", "That would be unforgettable for a dancer."),
        ("Jon", "I booked a ticket for the ballet on the 15th of August."),
        ("Gina", "Send me pictures, please!"),
        ("Jon", "Of course. Anyway, I have to go teach a class now."),
        ("Gina", "Good luck, talk soon!"),
    ],
    datetime(2023, 5, 20, 10, 0, tzinfo=UTC),
    prefix="d",
)
