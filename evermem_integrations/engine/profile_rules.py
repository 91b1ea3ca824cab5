"""What a person says about themselves, read by rules: the offline backend's profile reader.

Each rule is data: an attribute, a pattern with named groups, and how the value is formed
from the groups. Patterns are anchored on the first person ("I", "we", "my", 我), so they
only read what speakers say about themselves, and they read the sentence as said (no
rewriting). A single-valued attribute (where one lives, one's job) is superseded by a later
value; a multi-valued one (pets, likes) accumulates.

The attribute names are the profile's vocabulary: residence, hometown, occupation, employer,
school, partner, partner occupation, sibling, family, friend, pet, allergy, diet,
favorite <thing>, likes, dislikes, hobby, learning, teacher, vehicle, schedule, name, age,
family status and the temporary state ``feeling``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from evermem_integrations.engine.text import is_question, words

Category = Literal["trait", "state"]

# -- building blocks -------------------------------------------------------------------------
# Latin letters with accents too: Lucía, José and Zoë are names.
_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
_NAME = rf"[{_UPPER}][{_LOWER}]+(?:[ -][{_UPPER}][{_LOWER}]+)?"
_TITLED_NAME = rf"(?:(?:Mr|Mrs|Ms|Dr|Prof)\.? )?{_NAME}"
_PLACE = r"[A-Z][\w'.-]*(?:(?:,? | )(?:[A-Z][\w'.-]*))*"
_ORG = r"[A-Z][\w&'.-]*(?: (?:[A-Z0-9][\w&'.-]*|&|of|de))*"
_PHRASE = r"[^,.!?;:()\n]{2,60}"
_ROLE_HEADS = (
    "engineer|developer|programmer|designer|nurse|teacher|doctor|physician|surgeon|dentist|lawyer|attorney|"
    "accountant|manager|director|analyst|scientist|researcher|writer|author|editor|journalist|artist|painter|"
    "chef|cook|baker|consultant|architect|pharmacist|student|intern|tester|sdet|SDET|QA|counselor|counsellor|"
    "therapist|psychologist|photographer|musician|singer|professor|lecturer|mechanic|electrician|plumber|"
    "carpenter|firefighter|officer|pilot|driver|librarian|administrator|assistant|secretary|receptionist|"
    "cashier|barista|waiter|waitress|bartender|recruiter|founder|ceo|CEO|CTO|entrepreneur|freelancer|"
    "veterinarian|vet|technician|paramedic|coach|trainer|instructor|tutor|specialist|coordinator|lead|"
    "clerk|agent|representative|owner|translator|interpreter|economist|pharmacologist|social worker"
)
_ROLE = rf"(?:[\w-]+ ){{0,3}}?(?:{_ROLE_HEADS})s?"
_ROLE_PHRASE = r"[\w-]+(?: [\w-]+){0,4}?"
_ROLE_STOP = r"(?=[,.!?;:)]|\s+(?:at|for|with|in|on|and|since|from|starting|next|this|now)\b|$)"
_PARTNERS = "husband|wife|partner|boyfriend|girlfriend|fiancé|fiancée|fiance|fiancee|spouse"
_SIBLINGS = "sister|brother"
_FAMILY = (
    "mom|mum|mother|dad|father|son|daughter|cousin|aunt|uncle|grandma|grandmother|grandpa|grandfather|niece|nephew"
)
_PETS = "cat|dog|kitten|puppy|rabbit|bunny|hamster|parrot|bird|fish|turtle|tortoise|horse|guinea pig|gecko|snake"
# People name a pet by its breed or coat as often as by its kind ("we adopted a tabby named Pepper").
_PET_BREEDS = {
    "tabby": "cat", "calico": "cat", "siamese": "cat", "persian": "cat", "ragdoll": "cat", "tuxedo": "cat",
    "maine coon": "cat", "moggy": "cat", "labrador": "dog", "lab": "dog", "retriever": "dog", "poodle": "dog",
    "terrier": "dog", "beagle": "dog", "collie": "dog", "spaniel": "dog", "husky": "dog", "pug": "dog",
    "corgi": "dog", "dachshund": "dog", "greyhound": "dog", "whippet": "dog", "shepherd": "dog", "puppy": "dog",
    "kitten": "cat", "bunny": "rabbit",
}  # fmt: skip
_PET_KINDS = "|".join([*sorted(_PET_BREEDS, key=len, reverse=True), _PETS])
_PROVIDERS = "dentist|doctor|GP|therapist|vet|physio|physiotherapist|hairdresser|barber|optician|dermatologist"
_LEVELS = r"[ABC][12]|beginner|elementary|intermediate|upper[- ]intermediate|advanced|fluent|conversational|native"
_DIETS = (
    "vegetarian|vegan|pescatarian|keto|paleo|gluten-free|dairy-free|lactose-free|halal|kosher|plant-based|"
    "low-carb|flexitarian"
)
_LANGUAGES = (
    "Spanish|French|German|Italian|Japanese|Mandarin|Chinese|Korean|Portuguese|Arabic|Russian|Hindi|Dutch|"
    "Swedish|Greek|Turkish|Polish|Vietnamese|Thai|Cantonese|Hebrew|English|Norwegian|Danish|Finnish|Czech|"
    "Ukrainian|Indonesian|Swahili|Latin|sign language|ASL|piano|guitar|violin|drums|cello|ukulele|coding|Python"
)
_CAR_BRANDS = (
    "Toyota|Honda|Ford|Tesla|BMW|Audi|Subaru|Mazda|Kia|Hyundai|Volkswagen|VW|Nissan|Chevy|Chevrolet|Volvo|Jeep|"
    "Mini|Fiat|Peugeot|Renault|Skoda|Polestar|Rivian|Vespa"
)
_VEHICLES = f"car|bike|bicycle|e-bike|motorbike|motorcycle|scooter|truck|van|SUV|{_CAR_BRANDS}|Prius|Civic|Corolla"
_ADVERBS = r"(?:(?:really|also|just|still|now|currently|finally|officially|recently|absolutely|totally|so|very) )*"
_ZH_VALUE = r"[\u4e00-\u9fffA-Za-z0-9·]{1,12}?"
_ZH_END = r"(?=[了啦呢吧，。！？,.!?、\s]|$)"
_ZH_ROLES = "工程师|老师|教师|医生|护士|设计师|经理|学生|律师|程序员|会计|厨师|作家|记者|分析师|研究员|药剂师|主管|顾问"
_ZH_PARTNERS = "老公|老婆|丈夫|妻子|男朋友|女朋友|未婚夫|未婚妻|爱人|对象"
_ZH_SIBLINGS = {"姐姐": "sister", "妹妹": "sister", "哥哥": "brother", "弟弟": "brother"}
_ZH_PETS = {"猫": "cat", "小猫": "cat", "猫咪": "cat", "狗": "dog", "小狗": "dog", "狗狗": "dog", "兔子": "rabbit"}
_ZH_THINGS = {"茶": "tea", "咖啡": "coffee", "菜": "food", "电影": "movie", "书": "book", "歌": "song", "运动": "sport"}


@dataclass(frozen=True)
class ProfileRule:
    """One way of saying something about oneself."""

    attribute: str
    """The attribute; ``{thing}`` is filled from the group of that name ("favorite {thing}")."""
    pattern: re.Pattern[str]
    value: str = "{value}"
    """How the value is formed from the named groups."""
    category: Category = "trait"
    multi_valued: bool = False


@dataclass(frozen=True)
class ProfileReading:
    """An attribute and value read from a sentence."""

    attribute: str
    value: str
    category: Category
    multi_valued: bool


def _rule(
    attribute: str,
    pattern: str,
    *,
    value: str = "{value}",
    category: Category = "trait",
    multi: bool = False,
    flags: int = 0,
) -> ProfileRule:
    return ProfileRule(attribute, re.compile(pattern, flags), value, category, multi)


_I = re.IGNORECASE
RULES: tuple[ProfileRule, ...] = (
    # who one is
    _rule("name", rf"\b[Mm]y name is (?P<value>{_NAME})"),
    _rule(
        "age", r"\bI(?:'m| am) (?P<value>\d{1,3}) years? old\b|\bI (?:just )?turned (?P<age>\d{1,3})\b", value="{value}"
    ),
    _rule("hometown", rf"\bI(?:'m| am) (?:originally )?from (?P<value>{_PLACE})"),
    _rule("hometown", rf"\bI (?:grew up|was born) in (?P<value>{_PLACE})"),
    # where one lives
    _rule(
        "residence",
        rf"\b(?:I|[Ww]e)(?:'ve| have)? {_ADVERBS}(?:moved|relocated) (?:back )?(?:to|into) "
        rf"(?:the )?(?P<value>{_PLACE})",
    ),
    _rule("residence", rf"\b(?:I|[Ww]e) {_ADVERBS}live in (?P<value>{_PLACE})"),
    _rule("residence", rf"\b(?:I'm|I am|[Ww]e're|[Ww]e are) {_ADVERBS}(?:living|based|settled) in (?P<value>{_PLACE})"),
    _rule("residence", rf"\b[Oo]ur (?:new )?(?:place|home|apartment|flat|house) in (?P<value>{_PLACE})"),
    # work
    _rule("occupation", rf"\bI {_ADVERBS}work as (?:an? )?(?P<value>{_ROLE_PHRASE}){_ROLE_STOP}"),
    _rule(
        "occupation",
        rf"\b(?:start(?:ing|ed)?|begin(?:ning)?|began|got|accepted|took|landed|have) (?:a |my |the )?(?:new )?"
        rf"(?:job|position|role) as (?:an? )?(?P<value>{_ROLE_PHRASE}){_ROLE_STOP}",
    ),
    _rule(
        "occupation", rf"\b[Mm]y (?:new )?(?:job|role|title|position) is (?:an? )?(?P<value>{_ROLE_PHRASE}){_ROLE_STOP}"
    ),
    _rule(
        "occupation",
        rf"\bI(?:'ve| have)? (?:just )?(?:been |got |get )promoted to (?P<value>{_ROLE_PHRASE}){_ROLE_STOP}",
    ),
    _rule("occupation", rf"\bI(?:'m| am) {_ADVERBS}(?:working as )?(?:an? )(?P<value>{_ROLE})\b"),
    _rule("employer", rf"\bI {_ADVERBS}work (?:as (?:an? )?[\w -]{{2,40}}? )?(?:at|for) (?P<value>{_ORG})"),
    _rule("employer", rf"\bI(?:'m| am) {_ADVERBS}(?:an? )?{_ROLE} (?:at|for|with) (?P<value>{_ORG})"),
    _rule(
        "employer", rf"\b(?:job|position|role|offer|internship)(?: as [\w -]{{2,40}}?)? (?:at|with) (?P<value>{_ORG})"
    ),
    _rule("employer", rf"\bI(?:'ve| have)? (?:just |officially )?(?:joined|started at) (?P<value>{_ORG})"),
    _rule("school", rf"\bI(?:'m| am) (?:a |an )?(?:\w+ )?student at (?P<value>{_ORG})"),
    _rule("school", rf"\bI (?:study|go to school|am studying|'m studying) (?:[\w ]+ )?at (?P<value>{_ORG})"),
    _rule(
        "school",
        rf"\bI (?:{_ADVERBS}studied|did (?:my|a) (?:degree|masters?|PhD|BA|BSc|MA|MSc)|"
        r"went to (?:uni|university|college)) "
        rf"(?:[\w ]{{1,30}}? )?at (?:the )?(?P<value>{_ORG})",
    ),
    _rule("school", rf"\bI (?:{_ADVERBS})graduated from (?:the )?(?P<value>{_ORG})"),
    # people
    _rule("partner", rf"\b[Mm]y (?:{_PARTNERS}),? (?P<value>{_NAME})\b"),
    _rule("partner", rf"\b(?P<value>{_NAME}),? my (?:{_PARTNERS})\b"),
    _rule("partner", rf"\bI(?:'m| am| got) (?:married|engaged) to (?P<value>{_NAME})"),
    _rule(
        "partner occupation",
        rf"\b[Mm]y (?:{_PARTNERS})(?:,? {_NAME},?)? (?:is|works as) (?:an? )?(?P<value>{_ROLE_PHRASE}){_ROLE_STOP}",
    ),
    _rule(
        "sibling",
        rf"\b[Mm]y (?:(?:older|younger|big|little|twin|baby) )?(?P<kind>{_SIBLINGS}),? (?P<name>{_NAME})\b",
        value="{kind} {name}",
        multi=True,
    ),
    _rule(
        "family",
        rf"\b[Mm]y (?P<kind>{_FAMILY}),? (?P<name>{_NAME})\b",
        value="{kind} {name}",
        multi=True,
    ),
    _rule("friend", rf"\b[Mm]y (?:best |good |old |close )?friend,? (?P<value>{_NAME})\b", multi=True),
    # pets
    _rule(
        "pet",
        rf"\b(?:adopted|got|have|bought|rescued|brought home|took in) (?:a|an|our|my|two|another)? ?(?:[\w-]+ ){{0,2}}?"
        rf"(?P<kind>{_PET_KINDS})(?: \w+)?,? (?:named|called) (?P<name>{_NAME})",
        value="{kind} {name}",
        multi=True,
    ),
    _rule(
        "pet",
        rf"\b(?:[Mm]y|[Oo]ur) (?:new |little |sweet |old )?(?P<kind>{_PET_KINDS}),? (?P<name>{_NAME})\b",
        value="{kind} {name}",
        multi=True,
    ),
    _rule(
        "pet",
        rf"\b(?:[Mm]y|[Oo]ur) (?:new )?(?P<kind>{_PET_KINDS})(?:'s| is) (?:named|called) (?P<name>{_NAME})",
        value="{kind} {name}",
        multi=True,
    ),
    # health and food
    _rule(
        "allergy",
        r"\bI(?:'m| am) (?:very |severely |really |so |mildly |deathly )?allergic to (?P<value>[^,.!?;()]{2,40})",
        multi=True,
    ),
    _rule("allergy", r"\bI have an? (?P<value>[\w -]{2,30}?) allergy\b", multi=True),
    _rule("allergy", r"\b[Mm]y (?P<value>[\w -]{2,30}?) allergy\b", multi=True),
    _rule(
        "diet",
        rf"\bI(?:'m| am|'ve| have|'d)? {_ADVERBS}(?:gone |become |been |going |turned |went |trying to be |a |"
        rf"decided to (?:go |be |become |try )?|go |try )*"
        rf"(?P<value>{_DIETS})\b",
        flags=_I,
    ),
    _rule(
        "diet",
        r"\bI (?:stopped|quit|gave up) eating (?P<food>meat|fish|dairy|pork|beef|sugar|gluten)",
        value="{food}",
    ),
    _rule(
        "diet",
        r"\bI (?:don't|do not|no longer) eat (?P<food>meat|fish|dairy|pork|beef|sugar|gluten)",
        value="{food}",
    ),
    # tastes
    _rule(
        "favorite {thing}",
        r"\b[Mm]y (?:new |current |all-time |absolute |top )?fav(?:ou?rite)? (?P<thing>[\w -]{2,25}?) "
        r"(?:is|are|has to be|would be|these days is|right now is) (?:now |still |probably |definitely )?"
        rf"(?P<value>{_PHRASE})",
    ),
    _rule(
        "favorite {thing}",
        r"(?:^|[,;]\s*|\b(?:[Ll]ately|[Nn]ow|[Hh]onestly|[Tt]hese days),? )"
        r"(?P<value>(?:[\w'-]+ ){0,3}[\w'-]+) (?:is|are) (?:now |still |definitely )?my (?:new )?fav(?:ou?rite)? "
        r"(?P<thing>[\w-]+(?: [\w-]+)?)",
    ),
    _rule(
        "likes",
        rf"\bI {_ADVERBS}(?:love|enjoy|adore|like) (?P<value>{_PHRASE})",
        multi=True,
    ),
    _rule(
        "likes",
        rf"\bI(?:'m| am) {_ADVERBS}(?:really |so |very |pretty )?(?:passionate about|into|a (?:big |huge )?fan of) "
        rf"(?P<value>{_PHRASE})",
        multi=True,
    ),
    _rule(
        "dislikes",
        rf"\bI {_ADVERBS}(?:hate|can't stand|cannot stand|dislike|don't like|do not like) (?P<value>{_PHRASE})",
        multi=True,
    ),
    _rule("hobby", rf"\b[Mm]y (?:new |favorite |favourite |main )?hobby is (?P<value>{_PHRASE})", multi=True),
    _rule(
        "hobby",
        rf"\bI(?:'ve| have)? {_ADVERBS}(?:took|taken|picked|take|pick) up (?P<value>{_PHRASE})",
        multi=True,
    ),
    _rule(
        "hobby",
        rf"\bI {_ADVERBS}(?:play|practice|practise) (?:the )?(?P<value>[a-z][\w-]+(?: [a-z][\w-]+)?)"
        r"(?= (?:every|on|with|at|twice|once|most|in)\b|[,.!]|$)",
        multi=True,
    ),
    _rule(
        "hobby",
        rf"\bI {_ADVERBS}(?:go|went|love going|like going) (?:to (?:a|the|my) )?"
        r"(?!(?:meet|wedd|morn|even|build|brief|screen|hear|someth|noth|everyth|anyth|spr|cloth|ceil)ing\b)"
        r"(?P<value>[a-z]{3,}ing)"
        r"(?= (?:wall|gym|class|classes|club|studio|group|lessons?|every|on|with|at|twice|once|most|in)\b|[,.!]|$)",
        multi=True,
    ),
    _rule(
        "learning",
        rf"\bI(?:'m| am|'ve been| have been| started| began|'ve started)? {_ADVERBS}(?:learning|studying|taking|"
        rf"learn|practicing|practising) (?P<value>{_LANGUAGES})\b",
        multi=True,
    ),
    _rule(
        "learning", rf"\b[Mm]y (?P<value>{_LANGUAGES}) (?:lessons?|classes|class|course|tutor|teacher)\b", multi=True
    ),
    _rule(
        "learning",
        rf"\bI {_ADVERBS}(?:started|start|began|take|took|am taking|'m taking|signed up for|booked|have) "
        rf"(?:some |weekly |online |evening )?(?P<value>{_LANGUAGES}) (?:lessons?|classes|class|course)\b",
        multi=True,
    ),
    _rule(
        "{thing} level",
        rf"\b[Mm]y (?P<thing>{_LANGUAGES}) is (?:{_ADVERBS})(?:at )?(?:an? )?(?P<value>{_LEVELS})\b",
        flags=0,
    ),
    _rule(
        "teacher",
        rf"\b[Mm]y (?:(?:{_LANGUAGES}|new|old|piano|yoga|art|dance) )?(?:teacher|tutor|instructor),? "
        rf"(?:is |is called |named |called )?(?P<value>{_TITLED_NAME})\b",
    ),
    _rule(
        "vehicle",
        r"\bI (?:just |finally |recently )?(?:bought|got|drive|own|leased|am driving|'m driving) "
        r"(?:a |an |my |our )?(?:new |used |second-hand |secondhand |old |little )?"
        rf"(?P<value>(?:[\w-]+ )?(?:{_VEHICLES})(?: [A-Z0-9][\w-]*)?)\b",
    ),
    _rule(
        "vehicle",
        # "the car is making a noise. it's a 2016 Honda Jazz": a make and model is a vehicle, the year or a colour
        # before it says it is a particular one.
        r"\b(?:[Ii]t's|[Ii]t is|[Mm]ine is|[Ss]he's|[Hh]e's) an? "
        r"(?:\d{4} |(?:new|used|old|red|blue|black|white|grey|silver) )?"
        rf"(?P<value>(?:{_CAR_BRANDS}) [A-Z0-9][\w-]*)",
    ),
    _rule(
        "vehicle",
        rf"\b[Mm]y (?:new )?(?:car|ride|bike) is an? (?P<value>(?:[\w-]+ ){{0,2}}(?:{_VEHICLES}|[A-Z][\w-]+))",
    ),
    _rule(
        "{thing}",
        # "my new dentist is Dr. Campbell", or "new dentist is ..." opening a reply
        rf"(?:\b[Mm]y (?:new )?|\b[Oo]ur (?:new )?|^[Nn]ew )(?P<thing>{_PROVIDERS}) (?:is|will be) "
        rf"(?P<value>{_TITLED_NAME})\b",
    ),
    _rule(
        "family status",
        r"\bI(?:'m| am) (?P<value>married|single|engaged|divorced|widowed|a (?:mom|dad|mother|father|parent))\b",
    ),
    _rule(
        "feeling",
        r"\bI(?:'m| am) (?:feeling |so |really |very |a bit |pretty |super )*"
        r"(?P<value>tired|exhausted|sick|ill|stressed|swamped|busy|anxious|nervous|sad|down|excited|happy|overwhelmed|"
        r"injured|pregnant|burnt out|burned out)\b",
        category="state",
        flags=_I,
    ),
    # 中文
    _rule(
        "residence", rf"我们?(?:现在|已经|刚刚?|终于|也)*(?:住在|搬到了?|搬去了?|定居在)(?P<value>{_ZH_VALUE}){_ZH_END}"
    ),
    _rule("hometown", rf"我(?:是|来自)(?P<value>{_ZH_VALUE})人?{_ZH_END}"),
    _rule(
        "occupation",
        rf"我(?:现在|目前)?(?:是|当|做)(?:一名|一个|一位)?(?P<value>[\u4e00-\u9fffA-Za-z]{{0,6}}(?:{_ZH_ROLES}))",
    ),
    _rule("employer", rf"我(?:现在|目前)?在(?P<value>{_ZH_VALUE})(?:工作|上班)"),
    _rule("allergy", r"我对(?P<value>[^，。！？,.!?]{1,10}?)过敏", multi=True),
    _rule("diet", r"我(?:现在|已经|开始|决定)*(?P<value>吃素|是素食者|不吃肉)"),
    _rule(
        "favorite {thing}",
        rf"我(?:现在|目前|最近)?最喜欢(?:的(?P<thing>[\u4e00-\u9fff]{{1,3}})是|喝|吃|看|听|玩)?(?P<value>{_ZH_VALUE}){_ZH_END}",
    ),
    _rule("likes", rf"我(?:很|非常|特别|也|真的)?喜欢(?P<value>{_ZH_VALUE}){_ZH_END}", multi=True),
    _rule("dislikes", rf"我(?:很|非常|特别|真的)?(?:不喜欢|讨厌)(?P<value>{_ZH_VALUE}){_ZH_END}", multi=True),
    _rule(
        "learning",
        rf"我(?:正在|在|开始|还在)?学(?:习)?(?P<value>[\u4e00-\u9fff]{{1,3}}(?:语|文)|[A-Z][a-z]+){_ZH_END}",
        multi=True,
    ),
    _rule(
        "pet",
        rf"我(?:们)?(?:的|家的|家|养了一只|养了只|领养了一只|有一只|收养了一只)(?P<kind>{'|'.join(_ZH_PETS)})"
        rf"(?:，|,)?(?:叫|名叫|名字叫)(?P<name>{_ZH_VALUE}){_ZH_END}",
        value="{kind} {name}",
        multi=True,
    ),
    _rule("partner", rf"我(?:的)?(?:{_ZH_PARTNERS})(?:叫|名叫)(?P<value>{_ZH_VALUE}){_ZH_END}"),
    _rule(
        "partner occupation",
        rf"我(?:的)?(?:{_ZH_PARTNERS})(?:现在)?是(?:一名|一个|一位)?(?P<value>[\u4e00-\u9fff]{{0,6}}(?:{_ZH_ROLES}))",
    ),
    _rule(
        "sibling",
        rf"我(?:的)?(?P<kind>{'|'.join(_ZH_SIBLINGS)})(?:叫|名叫)(?P<name>{_ZH_VALUE}){_ZH_END}",
        value="{kind} {name}",
        multi=True,
    ),
    _rule("teacher", rf"我的(?:[\u4e00-\u9fff]{{1,4}})?老师(?:叫|是)(?P<value>{_ZH_VALUE}){_ZH_END}"),
)

# The words a question about an attribute uses ("Where does Ana live?" asks for the residence):
# a profile entry is indexed with them, so the question finds the entry that answers it.
ATTRIBUTE_QUESTIONS: dict[str, str] = {
    "residence": "where live lives living home city town moved 住 住在 哪里",
    "hometown": "where from grew up born hometown 哪里人 老家",
    "occupation": "job work works role do for a living profession career 工作 职业",
    "employer": "company work works for employer job 公司 工作",
    "school": "school study studies university college 学校",
    "partner": "partner husband wife boyfriend girlfriend married spouse 老公 老婆 对象",
    "partner occupation": "partner husband wife job work does 工作",
    "sibling": "sister brother sibling 姐姐 妹妹 哥哥 弟弟",
    "family": "family mother father parents son daughter 家人",
    "friend": "friend friends 朋友",
    "pet": "pet pets cat dog animal named 宠物 猫 狗",
    "allergy": "allergy allergic allergies food avoid 过敏",
    "diet": "diet eat eats vegetarian vegan food meat 吃 素",
    "likes": "like likes love enjoy favourite favorite 喜欢",
    "dislikes": "dislike dislikes hate avoid 不喜欢 讨厌",
    "hobby": "hobby hobbies free time fun 爱好",
    "learning": "learning learn studying lessons language 学",
    "teacher": "teacher tutor lessons who teaches 老师",
    "vehicle": "car drive drives vehicle bike 车",
    "schedule": "when schedule every week routine regularly 每周",
}


# What shows that a question asks for an attribute: any of the alternatives, each a set of words that must
# all be in the question (Chinese ones anywhere in it). Narrower than the indexed words above: a question
# that names no more than "work" or "where" may ask for anything.
_PARTNER_WORDS = ("partner", "husband", "wife", "boyfriend", "girlfriend", "spouse", "老公", "老婆", "对象")
_JOB_WORDS = ("job", "work", "works", "occupation", "profession", "career", "do", "does", "工作", "职业")
_FAMILY_WORDS = ("family", "mother", "father", "mom", "mum", "dad", "parents", "son", "daughter")
_ASKED: dict[str, tuple[frozenset[str], ...]] = {
    attribute: tuple(frozenset(alternative.split("+")) for alternative in alternatives.split())
    for attribute, alternatives in {
        "residence": "live lives living reside resides based+where home+where 住 住在",
        "hometown": "hometown from+where+originally grew+up born 老家 哪里人",
        "occupation": "job occupation profession career work+as do+for+living 职业 做什么工作",
        "employer": "company employer work+for works+for work+at works+at 公司 在哪里工作 在哪工作",
        "school": "school university college studied+where study+where 学校 大学",
        "partner": " ".join(_PARTNER_WORDS) + " married",
        "sibling": "sister brother sibling siblings 姐姐 妹妹 哥哥 弟弟",
        # Questions mention family and friends for much else ("boot camp with his family"): only asking who.
        "family": " ".join(f"{w}+{k}" for w in ("who", "name", "names", "named") for k in _FAMILY_WORDS) + " 家人",
        "friend": "who+friend who+friends friend's+name 朋友",
        "pet": "pet pets cat cats dog dogs 宠物 猫 狗",
        "allergy": "allergy allergic allergies 过敏",
        "diet": "diet vegetarian vegan 素",
        # "like" is also a preposition ("what was it like"): only as the verb of the question.
        "likes": "does+like do+like does+love does+enjoy likes 喜欢",
        "dislikes": "dislike dislikes does+hate 讨厌 不喜欢",
        "hobby": "hobby hobbies free+time for+fun 爱好",
        "learning": "learning learn learns studying lessons 学",
        "teacher": "teacher tutor teaches 老师",
        "vehicle": "car drive drives vehicle 车",
        "schedule": "schedule routine every+week regularly 每周",
    }.items()
}
_ASKED["partner occupation"] = tuple(frozenset((p, j)) for p in _PARTNER_WORDS for j in _JOB_WORDS)
_CJK = re.compile(r"[\u4e00-\u9fff]")


def asked_attributes(question: str, attributes: Iterable[str]) -> set[str]:
    """Which of ``attributes`` (profile attribute names) ``question`` asks about.

    An attribute outside the vocabulary (``favorite tea``, ``spanish level``, ``dentist``) is
    asked for when the question names all its words (a favourite also as 最喜欢 and the thing in
    Chinese).
    """
    said = {w.split("'")[0] for w in words(question)}
    said = {"favorite" if w == "favourite" else w for w in said}
    asked: set[str] = set()
    for attribute in attributes:
        if any(all(_said(cue, said, question) for cue in alternative) for alternative in _asking(attribute)):
            asked.add(attribute)
    # Someone's partner's job is not their own.
    if "partner occupation" in asked:
        asked -= {"occupation", "employer"}
    return asked


def _asking(attribute: str) -> tuple[frozenset[str], ...]:
    if attribute in _ASKED:
        return _ASKED[attribute]
    if attribute.startswith("favorite "):
        thing = attribute.removeprefix("favorite ")
        chinese = next((zh for zh, en in _ZH_THINGS.items() if en == thing), None)
        return (frozenset(attribute.split()),) + ((frozenset(("最喜欢", chinese)),) if chinese else ())
    return (frozenset(attribute.split()),)


def _said(cue: str, said: set[str], question: str) -> bool:
    return cue in question if _CJK.search(cue) else cue in said


def attribute_questions(attribute: str) -> str:
    """The question words indexed with a profile entry of ``attribute``."""
    if attribute.startswith("favorite "):
        return f"favourite favorite {attribute.removeprefix('favorite ')} like best 最喜欢"
    return ATTRIBUTE_QUESTIONS.get(attribute, attribute)


# A value that names nothing ("I love that!", "I like it here") is no profile entry.
_EMPTY_VALUES = frozenset(
    """it that this those these them you him her us everything anything something nothing all so what how
    when where which who to the a an here there one way idea""".split()
)
# What follows the value in the sentence, not part of it: "I love hiking, and ..." / "... now".
_VALUE_TAIL = re.compile(
    r"\s+(?:and|but|because|since|so|which|where|when|while|though|although|with my|for the|as well|"
    r"too|again|anymore|any more|now|lately|these days|right now|at the moment|so much|a lot|very much|"
    r"haha|lol|tbh|honestly|last|next|this|every|yesterday|today|tomorrow|tonight|in \d+|on \w+day|for \d+)\b.*$",
    re.IGNORECASE,
)
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an|my|our|some|to)\s+", re.IGNORECASE)
_LEADING_ADVERB = re.compile(r"^(?:lately|now|honestly|these days|actually|well|so|and|also),?\s+", re.IGNORECASE)
_ENGLISH_NAME_STOP = frozenset(
    "The And But So Then Also Just Now Here There This That What When Today Yesterday".split()
)


def read_profile(sentence: str) -> list[ProfileReading]:
    """The profile attributes a sentence states about its speaker (first person only)."""
    if is_question(sentence):
        return []
    found: dict[tuple[str, str], ProfileReading] = {}
    for rule in RULES:
        for match in rule.pattern.finditer(sentence):
            reading = _reading(rule, match)
            if reading is not None:
                found.setdefault((reading.attribute, reading.value.lower()), reading)
    return list(found.values())


def _reading(rule: ProfileRule, match: re.Match[str]) -> ProfileReading | None:
    groups = {k: v for k, v in match.groupdict().items() if v is not None}
    if "age" in groups:
        groups["value"] = groups.pop("age")
    if "kind" in groups:
        kind = groups["kind"]
        groups["kind"] = _ZH_PETS.get(kind) or _ZH_SIBLINGS.get(kind) or _PET_BREEDS.get(kind.lower()) or kind.lower()
    if "food" in groups:  # not eating meat is being vegetarian; other foods stay as said
        groups["food"] = "vegetarian" if groups["food"] == "meat" else f"no {groups['food']}"
    for key in ("value", "name"):
        if key in groups:
            groups[key] = _clean(groups[key])
            if not groups[key] or groups[key].lower() in _EMPTY_VALUES or groups[key] in _ENGLISH_NAME_STOP:
                return None
    attribute = rule.attribute
    if "{thing}" in attribute:
        thing = groups.get("thing") or _zh_thing(groups.get("value", ""))
        # A favourite of nothing named ("我最喜欢秋天") is a like.
        attribute = attribute.format(thing=_ZH_THINGS.get(thing, thing).strip().lower()) if thing else "likes"
    try:
        value = rule.value.format(**groups)
    except KeyError:
        return None
    multi = rule.multi_valued or attribute == "likes"
    return ProfileReading(attribute, value.strip(), rule.category, multi)


def _clean(value: str) -> str:
    value = _LEADING_ADVERB.sub("", _VALUE_TAIL.sub("", value.strip()))
    value = _LEADING_ARTICLE.sub("", value) if not re.match(r"[A-Z]", value) else value
    return value.strip(" \t'\"-.,!;:").rstrip("了啦呢吧")


def _zh_thing(value: str) -> str | None:
    """What a Chinese favourite is a favourite of, from its last characters (龙井茶 -> tea)."""
    for suffix, thing in _ZH_THINGS.items():
        if value.endswith(suffix):
            return thing
    return None
