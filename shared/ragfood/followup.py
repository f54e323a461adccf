"""Follow-up questions: turn "Which country is it from?" into "Which country is bibimbap from?".

Retrieval only sees the question, so a follow-up must be made standalone before it is searched.
With a generator, the generator rewrites it (bounded in time; a rewrite that does not look like a
question is ignored). Without one — or when it is slow, fails or rambles — a deterministic rule
puts the previous question's subject in place of the pronoun.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal, NamedTuple

from ragfood import budget
from ragfood.budget import BudgetExhausted, Deadline
from ragfood.errors import GeneratorError
from ragfood.log import logger
from ragfood.sessions import Turn

if TYPE_CHECKING:
    from ragfood.generator import GeneratorClient

How = Literal["standalone", "rule", "generator"]

MAX_REWRITE_S = 4.0  # the rewrite may use at most this much, and a third of what is left
MAX_REWRITE_CHARS = 300


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Patterns, not compiled objects: `re` compiles them on first use (and keeps them), so an ask with
# no earlier turn (every first invocation) never pays for compiling them (~0.7 ms of CPU).
# Letters of any script (pão, brûlée, phở), with inner apostrophes (' or a phone's ’) and hyphens.
_WORD = r"[^\W\d_](?:[\w'’-]*[^\W_])?"
# What follows an apostrophe and is not part of the word itself: "what's", "bibimbap's".
_CLITIC = r"(?i)['’](?:s|re|ll|d|ve|m)$"
# Pronouns that always refer back; demonstratives only when they stand alone ("of those?").
PRONOUNS = _words("it its it's they them their theirs he she him her")
DEMONSTRATIVES = _words("this that these those one ones")
POSSESSIVES = frozenset({"its", "their", "theirs"})
LEADS = ("and ", "what about ", "how about ", "also ", "so ")
# "and the sauce?", "what about a vegetarian one?": something of the previous subject's.
ARTICLES = _words("the this that these those a an some any another other its their")
STOP = _words(
    """a an the and or but of to in on at by for with about from into as is are was were be been
    being do does did can could should would will shall may might must have has had what which
    who whom whose when where why how tell me us you your i my we our please explain describe
    give some any more much many there here not no yes than then so also just very really
    more most less least if else"""
)
# Words that ask *about* a food without naming one: "which country", "what ingredients".
GENERIC = _words(
    """country countries region regions origin originate originally come comes came dish dishes
    food foods type types kind kinds taste tastes flavour flavor made make makes ingredient
    ingredients eat eaten served serve cook cooked cooking recipe popular famous traditional
    typically usually often known called name named like similar other others else different
    spicy sweet sour"""
)

# What never names a subject (`subject`).
_NOT_A_SUBJECT = STOP | GENERIC | PRONOUNS | DEMONSTRATIVES


class Resolution(NamedTuple):  # not a frozen dataclass: cheaper to define (ragfood.relevance)
    question: str  # what retrieval and the answer use
    how: How


def resolve(
    question: str,
    turns: list[Turn],
    generator: GeneratorClient | None = None,
    deadline: Deadline | None = None,
) -> Resolution:
    """The standalone form of `question`, given the session's previous turns (oldest first)."""
    if not turns:
        return Resolution(question, "standalone")
    if generator is not None:
        rewritten = _rewrite(question, turns, generator, _rewrite_budget(deadline))
        if rewritten and not _still_a_follow_up(rewritten):
            return Resolution(rewritten, "generator")
    return resolve_by_rule(question, turns)


def _still_a_follow_up(rewrite: str) -> bool:
    """True when a rewrite still leans on the conversation and names nothing ("Where is it
    from?"): small models often hand the follow-up back unchanged, and searched as such it finds
    nothing. The rule does better with it."""
    return _leans_back(rewrite) and not subject(rewrite)


def resolve_by_rule(question: str, turns: list[Turn]) -> Resolution:
    if not turns or not needs_context(question):
        return Resolution(question, "standalone")
    topic, asked = "", ""
    for turn in reversed(turns):  # the latest turn that named something
        topic, asked = topic_of(turn), turn.resolved_question or turn.question
        if topic:
            break
    if not topic:
        return Resolution(question, "standalone")
    moved = _moved_to(question)
    if moved:  # "What about pho?": the question asked before, about pho
        swapped = _replace_words(asked, topic, moved)
        return Resolution(swapped or question, "rule")
    reference = _back_reference(question)
    if reference:
        word = reference.group()
        # "its" -> "bibimbap's"; "it's" keeps its verb: "bibimbap's".
        clitic = word[len(_bare(word)) :]
        replacement = f"{topic}'s" if _key(word) in POSSESSIVES else topic + clitic
        resolved = question[: reference.start()] + replacement + question[reference.end() :]
        return Resolution(resolved, "rule")
    return Resolution(f"{question.rstrip(' ?')} ({topic})?", "rule")


def _moved_to(question: str) -> str:
    """What a "what about X?" / "and X?" follow-up moves the conversation to: X when it names
    something and does not point back ("and its sauce?", "and the sauce?" stay with the previous
    subject); else ""."""
    rest = question.strip()
    while lead := next((lead for lead in LEADS if rest.casefold().startswith(lead)), ""):
        rest = rest[len(lead) :].lstrip()
    if rest == question.strip() or _has_back_reference(rest):
        return ""
    words = re.findall(_WORD, rest)
    if not words or _key(words[0]) in ARTICLES:
        return ""
    return subject(rest)


def _replace_words(text: str, old: str, new: str) -> str | None:
    """`text` with the words `old` (whole words, any case) replaced by `new`; None if absent."""
    pattern = re.compile(rf"(?<!\w){re.escape(old)}(?!\w)", re.IGNORECASE)
    replaced, count = pattern.subn(lambda _: new, text, count=1)
    return replaced if count else None


def topic_of(turn: Turn) -> str:
    """What a turn was about: what its question named when it named something without referring
    back ("What about pho?" is about pho, not about "pho" plus the subject the rule carried to
    it in brackets), else the subject of the question as resolved ("Is it spicy?")."""
    own = "" if _has_back_reference(turn.question) else subject(turn.question)
    return own or subject(turn.resolved_question or turn.question)


def needs_context(question: str) -> bool:
    """True when the question leans on an earlier turn: a pronoun, a lead-in ("and ..."), or no
    word that names a food."""
    if _leans_back(question):
        return True
    words = [_key(w) for w in re.findall(_WORD, question)]
    return not any(w not in STOP and w not in GENERIC for w in words)


def subject(question: str) -> str:
    """The words of a question that name what it is about ("What is bibimbap?" -> "bibimbap")."""
    keep = [_bare(w) for w in re.findall(_WORD, question) if _key(w) not in _NOT_A_SUBJECT]
    return " ".join(keep[:6])


def _bare(word: str) -> str:
    return re.sub(_CLITIC, "", word)


def _key(word: str) -> str:
    """The word as the word lists hold it: "What's" -> "what", "isn't" -> "not"."""
    word = word.casefold().replace("’", "'")
    if word.endswith("n't"):
        return "not"
    return word if word in PRONOUNS else _bare(word)


def _leans_back(question: str) -> bool:
    """A lead-in ("and ...", "what about ...") or a word that refers back ("it", "of those")."""
    return question.casefold().strip().startswith(LEADS) or _has_back_reference(question)


def _back_reference(question: str) -> re.Match[str] | None:
    """The first word of `question` that refers back to an earlier turn ("it", "of those")."""
    matches = list(re.finditer(_WORD, question))
    words = [_key(m.group()) for m in matches]
    for i, match in enumerate(matches):
        if _refers_back(words[i], words[i + 1] if i + 1 < len(words) else ""):
            return match
    return None


def _has_back_reference(question: str) -> bool:
    return _back_reference(question) is not None


def _refers_back(word: str, following: str) -> bool:
    if word in PRONOUNS:
        return True
    # "those" in "which of those is..." refers back; in "those dumplings" it is a determiner.
    return word in DEMONSTRATIVES and (not following or following in STOP)


def _rewrite_budget(deadline: Deadline | None) -> float:
    if deadline is None:
        return MAX_REWRITE_S
    return max(0.0, min(MAX_REWRITE_S, deadline.remaining() / 3))


REWRITE_INSTRUCTIONS = (
    "You rewrite a follow-up question about food into a standalone question. Use the "
    "conversation only to replace words such as 'it', 'they' or 'those' with what they refer "
    "to. Reply with the rewritten question only, on one line, with no quotes and no "
    "explanation. If the question already stands alone, repeat it unchanged."
)


def rewrite_messages(question: str, turns: list[Turn]) -> list[dict[str, str]]:
    history = "\n".join(
        f"Q: {t.resolved_question or t.question}\nA: {t.answer[:200]}" for t in turns[-3:]
    )
    user = (
        f"Conversation so far:\n{history}\n\nFollow-up question: {question}\nStandalone question:"
    )
    return [
        {"role": "system", "content": REWRITE_INSTRUCTIONS},
        {"role": "user", "content": user},
    ]


def _rewrite(
    question: str, turns: list[Turn], generator: GeneratorClient, budget_s: float
) -> str | None:
    if budget_s < 0.2:
        return None
    # Streamed and cut at its own deadline, as the answer is: a slow or trickling generator
    # costs the rewrite budget at most (then the rule), and its connection is closed.
    try:
        with budget.within(Deadline.after(budget_s)) as deadline:
            fragments = generator.stream(rewrite_messages(question, turns))
            text = "".join(budget.until(fragments, deadline))
    except BudgetExhausted:
        logger.warning("follow-up rewrite timed out; using the rule", extra={"budget_s": budget_s})
        return None
    except GeneratorError as exc:
        logger.warning("follow-up rewrite failed; using the rule", extra={"reason": str(exc)})
        return None
    return clean_rewrite(text)


def clean_rewrite(text: str) -> str | None:
    """The rewrite if it looks like one question, else None (models ramble, quote, cite)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[0].strip().strip("\"'`“”").strip()
    line = re.sub(r"^(standalone question|question)\s*:\s*", "", line, flags=re.IGNORECASE)
    if not line or len(line) > MAX_REWRITE_CHARS or len(lines) > 2 or "[" in line:
        return None
    if not re.search(_WORD, line):
        return None
    return line
