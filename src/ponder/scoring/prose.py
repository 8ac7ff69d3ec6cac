"""Reading the answer a reply's sentences state, not its last number.

A careful reader takes the answer from the sentence that states it ("the GCD of 48 and 18 is
6", "so n = 20 and the larger one is 21") and not from what follows it: an elaboration in the
same sentence ("34, which is less than 40", "0.75, i.e. 75%", "3/8, or 37.5%", "3 sisters (the
2 sisters plus Alice)", "5 degrees, from 12 to 7"), or a later sentence that checks, notes or
supposes ("Check: 3(5) + 7 = 22", "Note that 18 = 2 * 9", "If he read 20 pages a day
instead..."). This module reads that way:

- ``plain``: the prose as a reader sees it: LaTeX inline delimiters and ``\\frac`` written
  out, markdown emphasis dropped, the Unicode minus read as "-", number words as digits
  ("nineteen", "twenty-five", "is one");
- ``sentences``: the reply's sentences, list markers dropped;
- ``stated_number``: from the last sentence that states a number (questions, checks, notes
  and suppositions skipped; a sentence that restates the question too), the number of its
  concluding clause (after "so", "therefore", "hence"...), elaborations cut off; an equation
  in an unknown ("6*h + 66 = 456") or an expression left unevaluated states no number, and
  then the reply gives none; a number claimed of a definite subject the question does not
  name ("The number of days in a month is 365") is passed over;
- ``stated_text``: the other side of a sentence that says something of the question's
  subject ("The capital of France is Paris", "Paris is the capital of France").

The question a reply answers (``AnswerSpec.question``, set by ``Problem``) is used to skip
sentences that restate it and to find its subject; without one, the rules read as if it were
empty.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Set as AbstractSet

_UNITS_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
_UNITS = _UNITS_WORDS.split()
_TENS = _TENS_WORDS.split()
NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_WORD = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
# "twenty-five", "twenty five", "nineteen"; "one" only where it states a count ("is one",
# "has one sister"): elsewhere it is a pronoun ("the larger one", "one of them")
_NUMBER_WORD = re.compile(
    rf"(?<![\w-])(?P<w>{_WORD})(?:[-\s](?P<u>one|two|three|four|five|six|seven|eight|nine))?"
    rf"(?![\w-])",
    re.IGNORECASE,
)
_COUNTS_ONE = re.compile(
    r"(?:\b(?:is|are|was|were|be|equals?|has|have|had|exactly|only|just|of)|[=:])\s*$",
    re.IGNORECASE,
)
_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([^{}]+?)\s*\}\s*\{\s*([^{}$]+?)\s*(?:\}|(?=\$|$))")
_TEXT = re.compile(r"\\(?:text|mathrm|textbf|mathbf)\s*\{([^{}]*)\}")
_LATEX_WORDS = (
    (r"\\times|\\cdot", "×"),
    (r"\\div", "÷"),
    (r"\\approx", "≈"),
    (r"\\neq", "≠"),
    (r"\\implies|\\Rightarrow|\\rightarrow|\\to\b", "→"),
    (r"\\left|\\right|\\[,;!]|\\quad", " "),
    (r"\\%", "%"),
)
# a list item's marker: "1. ", "2) ", "- ", "* ", "a. ", "A) "
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•]|[A-Da-d][.)])\s+")
_PROTECT = {"i.e.": "i\u2024e\u2024", "e.g.": "e\u2024g\u2024", "a.m.": "a\u2024m\u2024",
            "p.m.": "p\u2024m\u2024", "vs.": "vs\u2024", "approx.": "approx\u2024",
            "U.S.": "U\u2024S\u2024", "etc.": "etc\u2024"}  # fmt: skip
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[*$\\A-Z0-9-])")

# sentences that check, note, compare or suppose: not where the answer is stated
_ASIDE = re.compile(
    r"^\W*(?:note|check(?:ing)?|verif(?:y|ication|ying)|plugging|substituting|double[- ]check|"
    r"for comparison|equivalently|alternatively|indeed|if\b|in comparison|compare|in general|"
    r"generally|this is because|"
    r"(?:let'?s|let us|we can)\s+(?:check|verify|confirm|double))",
    re.IGNORECASE,
)
_HYPOTHETICAL = re.compile(
    r"\binstead\b|\bwould\s+(?!not\b)\w+|\b(?:by|in)\s+contrast\b|\bfor\s+comparison\b",
    re.IGNORECASE,
)
# what begins a concluding clause inside a sentence
_CONNECTIVE = re.compile(
    r"(?:,|;|:)?\s*\b(?:so|therefore|thus|hence|then|giving|which gives|that gives|and so|"
    r"which makes|that makes)\b"
    r"\s*,?\s*|,\s*(?=for\s+a\s+total\s+of\b|in\s+total\b|making\s+\d|totall?ing\b)",
    re.IGNORECASE,
)
# what begins an elaboration of a stated answer: it and all after it are not the answer
_ELABORATION = re.compile(
    r",\s*(?:which|i\u2024e\u2024|ie\b|or\b|that is|not\b|from\b|leaving|along with|"
    r"about\b|roughly|approximately|around\b|compared|since\b|because\b|as\b|and\b|but\b|"
    r"while\b|whereas\b|where\b|for\b(?!\s+a\s+total)|with\b|than\b|in\s+other\b|just\b|exactly\b|only\b|"
    r"up\s+from|down\s+from|making\b|meaning\b|after\b|before\b|when\b|if\b|to\b|at\b|"
    r"an?\b|the\b)|"
    r"\s+(?:because|since|i\u2024e\u2024|which\s+is|which\s+means|whereas)\b|"
    r"\s*(?:;|≈|—|–|--|:\s)|\s*\(|,\s+(?=[a-z])(?!plus\b|minus\b|times\b|then\b|for\s+a\s+total|in\s+total|making\s+\d)",
    re.IGNORECASE,
)
_PARENTHETICAL = re.compile(r"\s*\([^()]*[A-Za-z%][^()]*\)")
_NUM = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s?/\s?\d+(?:\.\d+)?)?"
# a number as a value: not a term in an unknown ("4x"), an ordinal ("1st"), a power's base,
# a ratio or a time ("2:1", "6:30"), or an operand of an expression left unevaluated
_VALUE = re.compile(
    rf"(?<![\w.^/])[$£€]?\s?(?P<num>{_NUM})(?![\w^]|:\d|\.\d)"
    r"(?!\s*(?:[-+*×÷^]|x\s)\s*[$£€]?\s*\(?\s*-?\d)"
)
_VERB = re.compile(
    r"(?<!\bto )(?<!\bcan )(?<!\bcould )(?<!\bmay )(?<!\bmight )(?<!\bshould )"
    r"\b(?:is|are|was|were|be|equals?|has|have|had|gets?|got|needs?|takes?|costs?|spends?|"
    r"earns?|scored?|pays?|makes?|totals|comes?\s+to|remains?|leaves?|appears?|occurs?|"
    r"contains?|fell|rose|dropped|drops|increased|decreased|grew|travels?|reads?|yields?|"
    r"results?\s+in|amounts?\s+to|gives?|sold|owns?|bought|uses?|holds?|weighs?|"
    r"will\s+be|will\s+take|will\s+have|will\s+need|left\s+with|count\s+is|total\s+of|"
    r"contributes?)\b|'s\b|=",
    re.IGNORECASE,
)
_UNKNOWN = re.compile(
    r"\d\s*[a-z]\b|(?<![A-Za-z])[a-z]\s*[-+*/^×]\s*\d|\d\s*[-+*/^×]\s*[a-z](?![A-Za-z])"
)
_BARE_UNKNOWN = re.compile(r"^\W*[a-zA-Z]\W*$")
_STOP_WORDS = (
    "a an the of to in on at for and or is are was were be what which who whom whose how many "
    "much does do did it its this that these those give your answer final only as with by from "
    "please find determine compute solve calculate state following value"
)
_STOP = set(_STOP_WORDS.split())


def fractions(text: str) -> str:
    """``text`` with LaTeX fractions written ``a/b`` (a missing closing brace forgiven)."""
    return _FRAC.sub(r"\1/\2", text)


@functools.lru_cache(maxsize=1024)
def plain(text: str) -> str:
    """``text`` as a reader sees it (see the module); cached, since one reading asks for the
    same reply's plain text several times."""
    text = fractions(_TEXT.sub(r"\1", text))
    text = re.sub(r"</?(?:code|em|strong|b|i|p|br|pre|span)\s*/?>", " ", text)  # HTML markup
    for pattern, replacement in _LATEX_WORDS:
        text = re.sub(pattern, replacement, text)
    text = re.sub(r"\\[()\[\]]|\$+", " ", text)
    text = text.replace("\u2212", "-").replace("**", "").replace("__", "")
    text = re.sub(r"(?<![\w)])minus\s+(?=\d)", "-", text)
    text = re.sub(r"(?<=\d)\s*x\s*(?=\d)", " × ", text)  # "3 x 40": a product
    for word, mark in _PROTECT.items():
        text = text.replace(word, mark)
    return _NUMBER_WORD.sub(_number_word, text)


def _number_word(match: re.Match[str]) -> str:
    word, unit = match.group("w").lower(), match.group("u")
    if word == "one" and not _COUNTS_ONE.search(match.string[: match.start()]):
        return match.group(0)
    value = NUMBER_WORDS[word] + (NUMBER_WORDS[unit.lower()] if unit and word in _TENS else 0)
    if unit and word not in _TENS:
        return f"{NUMBER_WORDS[word]}{match.group(0)[len(word) :]}"
    return str(value)


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (already ``plain``), list markers dropped, in order."""
    found = []
    for line in text.splitlines():
        line = re.sub(r"^\s*A:\s+", "", _LIST_MARKER.sub("", line)).strip()
        found += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return found


def content_words(text: str) -> set[str]:
    words = re.findall(r"[a-z][a-z']+", text.lower())
    return {w.removesuffix("'s") for w in words if w not in _STOP}


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+(?:\.\d+)?", text.lower())


def _restates(sentence: str, question: str) -> bool:
    """Whether ``sentence`` repeats the question's facts rather than answering: every word and
    number of it is the question's, and it computes nothing ("Susan has 2 brothers and 6
    sisters")."""
    if not question:
        return False
    said, asked_seq = _tokens(sentence), _tokens(plain(question))
    asked = set(asked_seq)
    if len(said) >= 4 and " ".join(said) in " ".join(asked_seq):
        return True  # a verbatim run of the question: "The value of i that satisfies: 0 = 0"
    if len(said) < 3 or re.search(r"[=×÷*]", sentence):
        return False
    missing = [t for t in said if t not in asked]
    if any(t[0].isdigit() or _VERB.fullmatch(t) or _CONCLUDES.fullmatch(t) for t in missing):
        return False
    return len(missing) <= (1 if len(said) >= 6 else 0)


def _aside(sentence: str) -> bool:
    body = sentence.rstrip()
    return bool(_ASIDE.match(body) or _HYPOTHETICAL.search(body) or body.endswith(("✓", "✔", "?")))


_TASK = re.compile(
    r"(?:^|,\s*)(?:find|solve|calculate|compute|determine|write|simplify)\b", re.IGNORECASE
)
_TO_READER = re.compile(
    r"^\W*(?:would|do|does|did|can|could|shall|should)\s+(?:you|i|that|this)\b|"
    r"^\W*(?:is\s+there\s+anything|any\s+(?:other\s+)?questions|need|want|anything\s+else)\b",
    re.IGNORECASE,
)


def asks_back(text: str) -> bool:
    """Whether the reply ends by posing a question of its own (not one to the reader): a
    reply that writes a new problem states no answer to this one."""
    said = sentences(plain(text))
    if not said or _TO_READER.match(said[-1]):
        return False
    return said[-1].endswith("?") or bool(_TASK.search(said[-1]))


_IN_WORDS = re.compile(
    r"\s*(?:the\s+)?(?:sum|product|difference|total|quotient|number)\s+(?:of|between)\b",
    re.IGNORECASE,
)
# "4 + 5 = 9": an expression evaluated
_COMPUTED = re.compile(
    rf"(?P<expr>-?\d[\d.,]*(?:\s*[-+*×÷/]\s*-?\d[\d.,]*)+)\s*=\s*[$£€]?\s?(?P<num>{_NUM})(?![\w^]|\s*[-+*×÷/]\s*\d)"
)
_LABEL = re.compile(
    r"^\s*([A-Za-z][\w' ]{0,30}?)\s*:\s+"
    r"(?=[$£€]?\s?-?[\d,.]+(?:\s*/\s*\d+)?\s*[%a-z]*\s*[.!]?\s*$)"
)


def _value_after(text: str) -> tuple[str, int] | None:
    """The value at the start of ``text`` (what follows a claim's verb) and where it ends."""
    skipped = len(text) - len(text.lstrip(" :*\"'"))
    match = _VALUE.match(text, skipped)
    if match is None:
        # "is about 7", "is now 66", "is $14 in total": a few words may come first
        head = re.compile(
            r"\s*(?:about|around|approximately|roughly|exactly|only|just|now|currently|"
            r"still|then|also|equal\s+to|a\s+total\s+of|in\s+total|altogether|left\s+with|"
            r"at|by|to|of|down|up|over|simply|clearly|therefore|thus|indeed|precisely|"
            r"(?:us|me|you|them|him|her)(?:\s+with)?|with|"
            r"(?:the|their|its|his|her|our)\s+(?:\w+\s+){0,2}\w+\s*:)(?:\b|(?<=:))\s*",
            re.IGNORECASE,
        ).match(text)
        if head is None or not head.end():
            return None
        found = _value_after(text[head.end() :])
        return None if found is None else (found[0], head.end() + found[1])
    return match.group("num").replace(",", "").replace(" ", ""), match.end()


_NEGATED = re.compile(r"\s*(?:not|n't|never)\s+[$£€]?\s?-?\d", re.IGNORECASE)
_NO_ANSWER = re.compile(
    r"\bno\s+(?:real\s+|valid\s+)?solutions?\b|\b(?:cannot|can't|can\s+not)\s+be\s+"
    r"(?:determined|found|calculated)\b|\bis\s+undefined\b|\bnot\s+(?:possible|enough\s+"
    r"information)\s+to\s+(?:determine|tell)\b",
    re.IGNORECASE,
)


def _equation(clause: str, claim: re.Match[str], unsolved: bool, start: int = 0) -> str | None:
    """What an "=" claim says when it is no value: "unsolved" (an equation in an unknown,
    "6*h + 66 = 456", or a chain of "=" that began with one), "unknown" ("= 4x + 2",
    "= 97^2"), "false" ("2400 = 124"); None when its right side may be a value. Its left
    side begins at ``start``, after the claim before it ("2y from both sides leaves y = 7")."""
    left = clause[start : claim.start()].split("=")[-1]
    right = clause[claim.end() :].split("=")[0]
    if (unsolved and not re.search(r"[A-Za-z]{2,}", left)) or (
        _UNKNOWN.search(left) and not _BARE_UNKNOWN.match(left)
    ):
        return "unsolved"
    if _value_after(clause[claim.end() :]) is None and re.search(
        r"[a-zA-Z]\s*[-+*/^×]|[-+*/^×]\s*[a-zA-Z]|\^", right
    ):
        return "unknown"  # not "= 60 km/h"
    return "false" if _differ(left, right) else None


def _unevaluated(after: str, equals: bool) -> bool:
    """Whether a claim's right side is an expression left unevaluated ("= 97 * 97")."""
    expression = r"\s*[$£€]?\s*\(?\s*-?\d[\d.,]*\s*[-+*×÷/^]\s*\(?\s*-?\d"
    return bool(re.match(expression, after) or (equals and re.match(r"\s*[$£€]?\s*-?\d", after)))


def _clause_value(clause: str) -> tuple[bool, str | None]:
    """Whether ``clause`` states something, and the number it states (None: it states that
    no number is known: an equation in an unknown, an expression left unevaluated, a value
    negated). The last claim stands, but none inside an elaboration of an earlier one."""
    clause = _LABEL.sub(r"\1 is ", clause)  # "GCD: 123", "Result: 25"
    if _NO_ANSWER.search(clause):
        return True, None  # "so the equation has no solution"
    stated: tuple[bool, str | None] = (False, None)
    limit, unsolved, previous = len(clause), False, 0
    for claim in _VERB.finditer(clause):
        if claim.start() >= limit:
            break
        start, previous = previous, claim.end()
        after = clause[claim.end() :]
        if _NEGATED.match(after) or re.match(r"(?:isn't|aren't)\s+[$£€]?\s?-?\d", after):
            stated = (True, None)  # "the answer is not 415"
            continue
        said = _equation(clause, claim, unsolved, start) if claim.group(0) == "=" else None
        unsolved = said == "unsolved"
        if said == "false":
            continue  # "2400 = 124": two different numbers said equal state nothing
        found = None if said else _value_after(after)
        if found is None:
            in_words = _IN_WORDS.match(after) and not re.search(r"\d", cut(after))
            # "is the sum of her male friends and female friends": never evaluated
            in_unknown = re.match(  # "is 4x + 2", not "is 5 m"
                r"\s*-?\d+(?:\.\d+)?\s*[abcefijnopqrtuvwxyz]\b", after
            )
            if (
                said
                or in_words
                or in_unknown
                or (_unevaluated(after, claim.group(0) == "=") and not stated[1])
            ):
                stated = (True, None)
            if said == "unsolved" and limit == len(clause):
                elaboration = _ELABORATION.search(clause, claim.end())
                limit = elaboration.start() if elaboration else limit
            continue
        stated = (True, found[0])
        if limit == len(clause):
            elaboration = _ELABORATION.search(clause, claim.end() + found[1])
            limit = elaboration.start() if elaboration else limit
            computed = _COMPUTED.search(clause, limit) if elaboration else None
            if computed and found[0] in re.findall(r"-?\d+(?:\.\d+)?", computed.group("expr")):
                return True, computed.group("num").replace(",", "")  # "has 4 ..., so 4 + 5 = 9"
    if not stated[0]:
        # "Nine students wear glasses", "10 candies remain", "125 is a large number"
        lead = _VALUE.match(clause.lstrip())
        if lead is not None and re.match(r"\s*[a-z]+\W+[a-z]", clause.lstrip()[lead.end() :]):
            return True, lead.group("num").replace(",", "")
        # a verb of its own with one value at the clause's end: "Mia can invite 3 friends",
        # "I count 43 days in total", "The remaining angle measures 28°", "8 primes"
        body = cut(clause)
        values = list(_VALUE.finditer(body))
        before = re.findall(r"[A-Za-z']+", body[: values[0].start()]) if values else []
        if (
            len(values) == 1
            and _VERB.search(body) is None
            and before
            and before[-1].lower() not in _NOT_A_CLAIM
            and not clause[len(body) :].lstrip().startswith(":")  # "Step 3: ..." labels
            and not re.search(r"[-+*×÷/^=]\s*\d|\d\s*[-+*×÷/^=]", body)
            and re.fullmatch(r"\s*%?°?(?:\s*[A-Za-z'-]+){0,3}\W*", body[values[0].end() :])
        ):
            return True, values[0].group("num").replace(",", "")
    return stated


# words after which a value is not what a clause claims ("add this to 1", "in 10 steps")
_NOT_A_CLAIM_WORDS = (
    "to from by of in on at for than with into per and or another every each about over "
    "under after before within around between"
)
_NOT_A_CLAIM = set(_NOT_A_CLAIM_WORDS.split())


def _differ(left: str, right: str) -> bool:
    """Whether ``left`` and ``right`` are two bare numbers of different value."""
    a = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*", left.split(",")[-1].split(" is ")[-1])
    b = re.match(r"\s*(-?\d+(?:\.\d+)?)\s*(?:[.,;]|$)", right)
    return bool(a and b) and float(a.group(1)) != float(b.group(1))  # type: ignore[union-attr]


def split_clauses(sentence: str) -> list[str]:
    """``sentence`` split at its concluding connectives ("so", "therefore", "which gives")."""
    return _CONNECTIVE.split(sentence)


def cut(clause: str) -> str:
    """``clause`` up to its first elaboration."""
    match = _ELABORATION.search(clause)
    return clause[: match.start()] if match else clause


_CONCLUDED_VALUE = re.compile(
    rf"\W*(?:so|therefore|thus|hence|in\s+total|altogether)\W+[$£€]?\s?(?P<num>{_NUM})\s*%?\W*",
    re.IGNORECASE,
)


def sentence_number(sentence: str) -> tuple[bool, str | None]:
    """Whether ``sentence`` states a number, and which (see ``stated_number``)."""
    body = _PARENTHETICAL.sub("", sentence)
    bare = _CONCLUDED_VALUE.fullmatch(body)
    if bare:  # "So 2.", "Therefore: 42"
        return True, bare.group("num").replace(",", "").replace(" ", "")
    parts = [p for p in _CONNECTIVE.split(body) if p.strip()]
    for part in reversed(parts):
        says, value = _clause_value(part)
        if says:
            return says, value
    return False, None


_CONCLUDES = re.compile(
    r"\b(?:so|therefore|thus|hence|answer|in\s+total|altogether|final|result)\b", re.IGNORECASE
)


def _continues(sentence: str, question: str) -> str | None:
    """The number a sentence adds to the question's list ("-7, -14, -28, -56, -112")."""
    listed = re.findall(rf"(?:^|[:,]\s*)({_NUM})(?=\s*(?:,|[.!]?\s*$))", sentence)
    asked = re.findall(_NUM, plain(question))
    if len(listed) < 3 or not question:
        return None
    *given, added = [n.replace(" ", "") for n in listed]
    return added if all(n in asked for n in given) and added not in asked else None


# words a claim's subject may hold whatever the question: what any answer is called
_GENERIC_WORDS = (
    "answer answers result results total sum value values count number numbers final solution "
    "output amount figure it this that there here so therefore thus hence then finally overall "
    "altogether correct right exact true actual whole "
    # what a computation or a sequence's asked-for term is called
    "next missing term terms expression sequence series unknown remaining calculation "
    "computation multiplication division addition subtraction equation problem question "
    "first second third fourth fifth sixth seventh eighth ninth tenth last list arithmetic "
    "geometric pattern given "
    # pronouns and adverbs: they name nothing
    "you we he she they them one each both all everyone someone still also just only now "
    "already even really actually simply clearly indeed"
)
_GENERIC = set(_GENERIC_WORDS.split())


def _same_word(a: str, b: str) -> bool:
    return a == b or a.rstrip("s") == b.rstrip("s") or (len(a) >= 5 and a[:5] == b[:5])


def _off_subject(sentence: str, question: str, value: str) -> bool:
    """Whether the claim that states ``value`` in ``sentence`` is about something the question
    does not ask of: its subject is a definite noun phrase ("the ...", "their ...") naming
    things none of which is the question's ("The number of days in a month is 365", "Their
    GCD, by contrast, is 1" when the LCM is asked)."""
    if not question or _CONCLUDES.search(sentence):
        return False  # a sentence that says it concludes is the reply's answer by its own word
    body = _LABEL.sub(r"\1 is ", _PARENTHETICAL.sub("", sentence))
    for claim in _VERB.finditer(body):
        found = _value_after(body[claim.end() :])
        if found is not None and found[0] == value:
            break
    else:
        return False
    # the subject is what comes after the last clause boundary or complementizer ("This
    # indicates that there are 12 bits": "there")
    pieces = re.split(
        r"[:;,—–]|\b(?:so|therefore|thus|hence|that|which|where|when|because|since)\b",
        body[: claim.start()],
        flags=re.IGNORECASE,
    )
    before = next((p for p in reversed(pieces) if p.strip()), "")
    if not _DEFINITE.match(before) or re.search(
        r"\b(?:there|it|this|that|they|he|she|we|you|i)\s*$", before, re.IGNORECASE
    ):
        return False  # "This means there are 18": the claim's subject is "there"
    subject = content_words(re.sub(r"\d+(?:st|nd|rd|th)\b", " ", before)) - _GENERIC
    if not subject:
        return False
    asked = content_words(plain(question))
    return not any(_same_word(w, a) for w in subject for a in asked)


_DEFINITE = re.compile(r"^\s*(?:the|their|his|her|its|our|your|this|that|these|those)\s+\S", re.I)


_ANNOUNCES = re.compile(
    r"^\W*(?:let\s+me|let's|let\s+us|i'll|i\s+will|we\s+need\s+to|we\s+will|we'll|next)\b"
    r"(?!\s+know)",
    re.IGNORECASE,
)


def stated_number(text: str, question: str = "") -> tuple[bool, str | None, bool]:
    """Whether the reply states a number (or that none is known), which, and whether the
    sentence that states it concludes ("So ...", "the result is ..."): read from its last
    sentence that states one (see the module). A reply whose last sentence announces work
    still to do ("Let me add these up") has not stated its answer yet."""
    said = sentences(plain(text))
    if said and _ANNOUNCES.match(said[-1]) and not said[-1].rstrip().endswith(":"):
        return True, None, False
    for sentence in reversed(said):
        if (added := _continues(sentence, question)) is not None:
            return True, added, False
        if _aside(sentence) or _restates(sentence, question):
            continue
        says, value = sentence_number(sentence)
        if says and value is not None and _off_subject(sentence, question, value):
            continue
        if says:
            return True, value, bool(_CONCLUDES.search(sentence))
    return False, None, False


def only_number(text: str) -> str | None:
    """The one value of a reply of a few words that states nothing ("x x x 7")."""
    seen = plain(text)
    if re.search(r"[A-Za-z]{2,}|[-+*×÷^/=]\s*\d|\d\s*[-+*×÷^/=]", seen):
        return None
    values = list(_VALUE.finditer(seen))
    return values[0].group("num").replace(",", "") if len(values) == 1 else None


def leading_number(text: str) -> str | None:
    """The number a reply opens with when its first line is that number alone ("1081",
    "**6**", "$14"): a reply that leads with its answer."""
    lines = [line for line in plain(text).strip().splitlines() if line.strip()]
    if not lines:
        return None
    if len(lines) > 1 and re.match(r"^\s*[B-E][.)]\s", lines[1]):
        return None  # options listed ("A. 1.247", "B. 1.247"), not an answer
    first = re.sub(r"^[A-D][.)]\s+", "", lines[0].strip())  # "A. 10"
    first = first.strip("*_`\"'").strip().rstrip(".")
    match = re.fullmatch(rf"[$£€]?\s?({_NUM})\s*%?", first)
    return match.group(1).replace(",", "").replace(" ", "") if match else None


_COPULA = re.compile(
    r"\s+(?:is|are|was|were|serves\s+as|remains)\s+|\s+—\s+|\s+–\s+", re.IGNORECASE
)
_NAME = re.compile(r"(?<![\w'])[A-Z][\w'.-]*(?:\s+(?:de|da|of|von|van|la|le|du)?\s*[A-Z][\w'.-]*)*")
_COMMON_WORDS = (
    "The It Its This That These Those A An In On At So Therefore Thus Many Some However But "
    "And Or If When While Yes No Answer Final Here There They We I You He She Ladies Note "
    "Not Its Most Because Since Although As For From To Look Please Given Let Use Beneath "
    "Demonstrating"
)
_COMMON = set(_COMMON_WORDS.split())


def _object(side: str, one_word: bool = False) -> str | None:
    """A stated text answer: one side of the copula, its elaborations cut off."""
    side = cut(side).split(",")[0].strip()
    side = re.sub(r"^(?:[A-Z][\w-]*'s|her|his|their|its|my|your|our)\s+", "", side)
    if one_word:  # "the child of Mary" -> "child"
        side = re.sub(r"^(?:an?|the)\s+", "", side, flags=re.I).split(" of ")[0].strip()
        side = side.strip(" .!*_\"'`:")
        return side if re.fullmatch(r"[A-Za-z'-]+", side) else None
    side = re.sub(r"^(?:located|found|situated)\s+(?:in|at)\s+", "", side, flags=re.I)
    side = re.sub(r"^(?:the\s+city\s+of|in|at)\s+", "", side, flags=re.I)
    side = side.strip(" .!*_\"'`:")
    return side if 0 < len(side.split()) <= 6 else None


_ONE_WORD = re.compile(
    r"\bone\s+word\b|\bonly\s+with\s+the\s+word\b|\bsingle\s+word\b", re.IGNORECASE
)
_SUBORDINATE = re.compile(r"^\W*(?:since|because|as|given\s+that)\b[^,]*,\s*", re.IGNORECASE)
_NAMED_BY = re.compile(r"\s*(?:$|[^\w\s]|(?:is|was|are|were|wrote|painted)\b|\w+ed\b)")


def ask(question: str) -> str | None:
    """The question's last sentence that asks (ends with "?"), or None."""
    asks = [s for s in sentences(plain(question)) if s.rstrip().endswith("?")]
    return asks[-1] if asks else None


def _head(question: str) -> str | None:
    """The first content word of the question's ask ("How is Tom related to Mary?": tom)."""
    words = re.findall(r"[a-z][a-z']+", (ask(question) or question).lower())
    return next((w.removesuffix("'s") for w in words if w not in _STOP), None)


def _names(side: str, head: str, asked: AbstractSet[str]) -> bool:
    """Whether ``side`` names the question's subject: its head word, or two of its words
    ("The person in House 1" for "the name of the person who lives in House 1")."""
    words = content_words(side)
    return head in words or len(words & asked) >= 2


def _copula_answer(
    said: list[str], head: str, one_word: bool, asked: AbstractSet[str] = frozenset()
) -> str | None:
    """The other side of the first copula one side of which holds the question's head."""
    for sentence in said:
        body = _PARENTHETICAL.sub("", _SUBORDINATE.sub("", sentence))
        clauses = [c for c in re.split(r",\s*but\s+|;\s*|:\s+", body) if c.strip()]
        # a concluding clause first: "Grace is the child of Aiden, so Aiden is her father"
        concluding = [p for p in _CONNECTIVE.split(body) if p.strip()]
        if len(concluding) > 1:
            clauses = [concluding[-1], *clauses]
        for clause in clauses:
            for copula in _COPULA.finditer(clause):
                left, right = clause[: copula.start()], clause[copula.end() :]
                if re.match(r"\s*(?:not|never)\b", right, re.IGNORECASE):
                    continue  # "are not related"
                pronoun = one_word and re.fullmatch(r"\W*(?:he|she|they|it)\W*", left, re.I)
                on_left = _names(left, head, asked) or bool(pronoun)
                on_right = _names(cut(right), head, asked)
                if on_left != on_right:
                    found = _object(right if on_left else left, one_word)
                    by_head = head in content_words(left if on_left else cut(right))
                    if found is not None and (by_head or re.fullmatch(r"[A-Z][\w'-]*|\w+", found)):
                        return found  # named by two of the ask's words: a name or a word
    return None


def _named_answer(said: list[str], subject: set[str]) -> str | None:
    """A name one of the first sentences opens with ("Leonardo da Vinci painted it") or
    gives after "by" ("written by Jane Austen"), not one of the question's."""
    for sentence in said[:2]:
        body = cut(_PARENTHETICAL.sub("", sentence))
        first = _NAME.match(body)
        rest = body[first.end() :] if first else ""
        verb = re.match(r"\s*([a-z]+)", rest)
        by_verb = verb is not None and verb.group(1) in subject  # "Arnold lives in House 1"
        named = [first.group(0)] if first and (_NAMED_BY.match(rest) or by_verb) else []
        named += re.findall(rf"\bby\s+({_NAME.pattern})", body)
        for name in named:
            if name.split()[0] not in _COMMON and not _related(name, subject):
                return name
    return None


def stated_text(text: str, question: str) -> str | None:
    """A reply that opens with a bare answer ("Son.", "Tokyo."); else the answer of the first
    sentence that says something of the question's subject: the copula's other side ("The
    capital of France is Paris", "Paris is the capital of France"); else a name a sentence
    introduces ("It was written by Jane Austen")."""
    head = _head(question)
    if head is None:
        return None
    said = [s for s in sentences(plain(text)) if not s.rstrip().endswith("?") and not _aside(s)]
    if said and re.fullmatch(r"\W*([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,2})\W*", said[0]):
        bare = said[0].strip(" .!*_\"'")
        if bare.split()[0] not in _COMMON:
            return bare
    asked = content_words(ask(question) or question)
    found = _copula_answer(said, head, bool(_ONE_WORD.search(question)), asked)
    if found is not None:
        return found
    if re.search(rf"\bno\s+(?:\w+\s+){{0,2}}{head}\b", " ".join(said), re.IGNORECASE):
        return None  # "it has no capital"
    return _named_answer(said, content_words(question))


def _related(name: str, subject: set[str]) -> bool:
    """Whether ``name`` is a word of the question's, or one made from it ("Egyptian")."""
    return any(w[:5] == s[:5] for w in content_words(name) for s in subject if len(s) >= 4)


__all__ = [
    "NUMBER_WORDS",
    "ask",
    "asks_back",
    "content_words",
    "cut",
    "fractions",
    "leading_number",
    "only_number",
    "plain",
    "sentence_number",
    "sentences",
    "split_clauses",
    "stated_number",
    "stated_text",
]
