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
  then the reply gives none;
- ``stated_text``: the other side of a sentence that says something of the question's
  subject ("The capital of France is Paris", "Paris is the capital of France").

The question a reply answers (``AnswerSpec.question``, set by ``Problem``) is used to skip
sentences that restate it and to find its subject; without one, the rules read as if it were
empty.
"""

from __future__ import annotations

import re

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
_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([^{}]+?)\s*\}\s*\{\s*([^{}]+?)\s*\}")
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
    r"for comparison|equivalently|alternatively|indeed|if\b|in comparison|compare|"
    r"(?:let'?s|let us|we can)\s+(?:check|verify|confirm|double))",
    re.IGNORECASE,
)
_HYPOTHETICAL = re.compile(r"\binstead\b|\bwould\s+(?:be|take|have|need)\b", re.IGNORECASE)
# what begins a concluding clause inside a sentence
_CONNECTIVE = re.compile(
    r"(?:,|;|:)?\s*\b(?:so|therefore|thus|hence|then|giving|which gives|that gives|and so)\b"
    r"\s*,?\s*",
    re.IGNORECASE,
)
# what begins an elaboration of a stated answer: it and all after it are not the answer
_ELABORATION = re.compile(
    r",\s*(?:which|i\u2024e\u2024|ie\b|or\b|that is|not\b|from\b|leaving|along with|plus\b|"
    r"about\b|roughly|approximately|around\b|compared|since\b|because\b|as\b|and\b|but\b|"
    r"while\b|whereas\b|where\b|for\b|with\b|than\b|in\s+other\b|just\b|exactly\b|only\b|"
    r"up\s+from|down\s+from|making\b|meaning\b|after\b|before\b|when\b|if\b|to\b|at\b|"
    r"an?\b|the\b)|"
    r"\s+(?:because|since|i\u2024e\u2024|which\s+is|which\s+means|whereas)\b|"
    r"\s*(?:;|≈|—|–|--)|\s*\(",
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
    r"will\s+be|will\s+take|will\s+have|will\s+need|left\s+with|count\s+is)\b|'s\b|=",
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


def plain(text: str) -> str:
    """``text`` as a reader sees it (see the module)."""
    text = _TEXT.sub(r"\1", text)
    text = _FRAC.sub(r"\1/\2", text)
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
        line = _LIST_MARKER.sub("", line).strip()
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
    if not question or re.search(r"[=×÷*]", sentence):
        return False
    said, asked = _tokens(sentence), set(_tokens(plain(question)))
    return len(said) >= 3 and all(t in asked for t in said)


def _aside(sentence: str) -> bool:
    body = sentence.rstrip()
    return bool(_ASIDE.match(body) or _HYPOTHETICAL.search(body) or body.endswith(("✓", "✔", "?")))


_TASK = re.compile(r"^(?:find|solve|calculate|compute|determine|write|simplify)\b", re.IGNORECASE)


def asks_back(text: str) -> bool:
    """Whether the reply ends by posing a question of its own (not one to the reader): a
    reply that writes a new problem states no answer to this one."""
    said = sentences(plain(text))
    if not said or re.search(r"\byou\b", said[-1], re.IGNORECASE):
        return False
    return said[-1].endswith("?") or bool(_TASK.match(said[-1]))


_IN_WORDS = re.compile(
    r"\s*(?:the\s+)?(?:sum|product|difference|total|quotient|number)\s+(?:of|between)\b",
    re.IGNORECASE,
)
_LABEL = re.compile(r"^\s*([A-Za-z][\w' ]{0,30}?)\s*:\s+(?=[$£€]?\s?-?\d)")


def _value_after(text: str) -> tuple[str, int] | None:
    """The value at the start of ``text`` (what follows a claim's verb) and where it ends."""
    skipped = len(text) - len(text.lstrip(" :*\"'"))
    match = _VALUE.match(text, skipped)
    if match is None:
        # "is about 7", "is now 66", "is $14 in total": a few words may come first
        head = re.compile(
            r"\s*(?:about|around|approximately|roughly|exactly|only|just|now|currently|"
            r"still|then|also|equal\s+to|a\s+total\s+of|in\s+total|altogether|left\s+with|"
            r"at|by|to|of|down|up|over)\b\s*",
            re.IGNORECASE,
        ).match(text)
        if head is None or not head.end():
            return None
        found = _value_after(text[head.end() :])
        return None if found is None else (found[0], head.end() + found[1])
    return match.group("num").replace(",", "").replace(" ", ""), match.end()


def _clause_value(clause: str) -> tuple[bool, str | None]:
    """Whether ``clause`` states something, and the number it states (None: it states that
    no number is known: an equation in an unknown, an expression left unevaluated). The
    last claim stands, but none inside an elaboration of an earlier one."""
    clause = _LABEL.sub(r"\1 is ", clause)  # "GCD: 123", "Result: 25"
    stated: tuple[bool, str | None] = (False, None)
    limit = len(clause)
    any_claim = False
    unsolved = False  # in a chain of "=" that began with an equation in an unknown
    for claim in _VERB.finditer(clause):
        if claim.start() >= limit:
            break
        any_claim = True
        after = clause[claim.end() :]
        if claim.group(0) != "=":
            unsolved = False
        else:
            left = clause[: claim.start()].split("=")[-1]
            right = after.split("=")[0]
            if unsolved or (_UNKNOWN.search(left) and not _BARE_UNKNOWN.match(left)):
                stated, unsolved = (True, None), True  # "6*h + 66 = 456": nothing solved
                if limit == len(clause):
                    elaboration = _ELABORATION.search(clause, claim.end())
                    limit = elaboration.start() if elaboration else limit
                continue
            if re.search(r"[a-zA-Z]\s*[-+*/^×]|[-+*/^×]\s*[a-zA-Z]|\^", right):
                stated = (True, None)  # "= 4x + 2", "= 97^2"
                continue
            if _differ(left, right):
                continue  # "2400 = 124": two different numbers said equal state nothing
        found = _value_after(after)
        described = _IN_WORDS.match(after)
        if found is None and described and not re.search(r"\d", cut(after)):
            # "the total is the sum of her male friends and female friends": said in words,
            # never evaluated: no number stated
            stated = (True, None)
            continue
        if found is not None:
            stated = (True, found[0])
            end = claim.end() + found[1]
        elif claim.group(0) == "=" and re.match(r"\s*[$£€]?\s*-?\d", after):
            if stated[1] is None:  # "= 97 * 97": left unevaluated ("122 = 67 + 75": how
                stated = (True, None)  # a stated value was made, which stands)
            continue
        else:
            continue
        if limit == len(clause):
            elaboration = _ELABORATION.search(clause, end)
            limit = elaboration.start() if elaboration else limit
    if not stated[0]:
        # "Nine students wear glasses", "10 candies remain", "125 is a large number"
        lead = _VALUE.match(clause.lstrip())
        if lead is not None and re.match(r"\s*[a-z]+\W+[a-z]", clause.lstrip()[lead.end() :]):
            return True, lead.group("num").replace(",", "")
    del any_claim
    return stated


def _differ(left: str, right: str) -> bool:
    """Whether ``left`` and ``right`` are two bare numbers of different value."""
    a = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*", left.split(",")[-1].split(" is ")[-1])
    b = re.match(r"\s*(-?\d+(?:\.\d+)?)\s*(?:[.,;]|$)", right)
    return bool(a and b) and float(a.group(1)) != float(b.group(1))  # type: ignore[union-attr]


def cut(clause: str) -> str:
    """``clause`` up to its first elaboration."""
    match = _ELABORATION.search(clause)
    return clause[: match.start()] if match else clause


def sentence_number(sentence: str) -> tuple[bool, str | None]:
    """Whether ``sentence`` states a number, and which (see ``stated_number``)."""
    body = _PARENTHETICAL.sub("", sentence)
    parts = [p for p in _CONNECTIVE.split(body) if p.strip()]
    for part in reversed(parts):
        says, value = _clause_value(part)
        if says:
            return says, value
    return False, None


_CONCLUDES = re.compile(
    r"\b(?:so|therefore|thus|hence|answer|in\s+total|altogether|final|result)\b", re.IGNORECASE
)


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
        if _aside(sentence) or _restates(sentence, question):
            continue
        says, value = sentence_number(sentence)
        if says:
            return True, value, bool(_CONCLUDES.search(sentence))
    return False, None, False


def only_number(text: str) -> str | None:
    """The one value of a reply of a few words that states nothing ("x x x 7")."""
    seen = plain(text)
    if len(seen.split()) > 8 or re.search(r"[-+*×÷^/=]\s*\d|\d\s*[-+*×÷^/=]", seen):
        return None
    values = list(_VALUE.finditer(seen))
    return values[0].group("num").replace(",", "") if len(values) == 1 else None


def leading_number(text: str) -> str | None:
    """The number a reply opens with when its first line is that number alone ("1081",
    "**6**", "$14"): a reply that leads with its answer."""
    lines = [line for line in plain(text).strip().splitlines() if line.strip()]
    if not lines:
        return None
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
    "Not Its Most Because Since Although As For From"
)
_COMMON = set(_COMMON_WORDS.split())


def _object(side: str) -> str | None:
    """A stated text answer: one side of the copula, its elaborations cut off."""
    side = cut(side).strip()
    side = re.sub(r"^(?:located|found|situated)\s+(?:in|at)\s+", "", side, flags=re.I)
    side = re.sub(r"^(?:the\s+city\s+of|in|at)\s+", "", side, flags=re.I)
    side = side.strip(" .!*_\"'`:")
    return side if 0 < len(side.split()) <= 6 else None


def stated_text(text: str, question: str) -> str | None:
    """The answer of the first sentence that says something of the question's subject: the
    copula's other side ("The capital of France is Paris", "Paris is the capital of
    France"), else a name the sentence introduces ("It was written by Jane Austen")."""
    subject = content_words(question)
    head = next(
        (
            w.removesuffix("'s")
            for w in re.findall(r"[a-z][a-z']+", question.lower())
            if w not in _STOP
        ),
        None,
    )
    if head is None:
        return None
    said = [s for s in sentences(plain(text)) if not s.rstrip().endswith("?") and not _aside(s)]
    for sentence in said:
        body = _PARENTHETICAL.sub("", sentence)
        for clause in re.split(r",\s*but\s+|;\s*|:\s+", body):
            for copula in _COPULA.finditer(clause):
                left, right = clause[: copula.start()], clause[copula.end() :]
                on_left = head in content_words(left)
                on_right = head in content_words(cut(right))
                if on_left and not on_right and (found := _object(right)) is not None:
                    return found
                if on_right and not on_left and (found := _object(left)) is not None:
                    return found
    if re.search(rf"\bno\s+(?:\w+\s+){{0,2}}{head}\b", " ".join(said), re.IGNORECASE):
        return None  # "it has no capital"
    for sentence in said[:2]:
        body = cut(_PARENTHETICAL.sub("", sentence))
        for name in _NAME.findall(body):
            words = name.split()
            while words and words[0] in _COMMON:
                words = words[1:]
            if words and not content_words(" ".join(words)) & subject:
                return " ".join(words)
    return None


__all__ = [
    "NUMBER_WORDS",
    "asks_back",
    "content_words",
    "cut",
    "leading_number",
    "only_number",
    "plain",
    "sentence_number",
    "sentences",
    "stated_number",
    "stated_text",
]
