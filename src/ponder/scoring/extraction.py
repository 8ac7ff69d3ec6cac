"""Reading the answer out of a reply, by the kind of answer the task asks for.

A task declares its answer (``AnswerSpec``: a type, and the instruction that asks for it);
``read_answer(text, spec)`` reads, first rule that applies:

1. the declared form: the last line ``Answer: X`` (markdown allowed around it), or a line
   "### Final Answer" / "**Answer**" with the answer on the next;
2. the last ``\\boxed{X}`` (braces balanced);
3. a reply that ends on its answer alone in bold, on a line of its own ("**272**"), read
   (and reported) as declared;
4. fallbacks by type, each on the reply with its code blocks removed:

   - ``yes_no``: a stated "the answer is yes" (not under "If ..."), then a leading Yes/No
     ("No, it does not follow..."), a verdict in words ("It isn't"), then the last
     standalone yes/no of the conclusion (its last sentence); always "Yes" or "No"
     (``\\text{No}``, ``(No)``, ``**no**`` included);
   - ``number``: read by sentences, not last numbers (``ponder.scoring.prose``): an answer
     phrase's value ("the answer is 13, since ..."), a leading bare number (unless a later
     sentence concludes otherwise), else the number of the last sentence that states one, of
     its concluding clause, elaborations after it ("which is", "i.e.", "or", parentheses)
     and later checks, notes and suppositions left out; number words read; LaTeX inline
     maths written out; a reply that ends by posing a question of its own, or whose
     statement is an equation in an unknown, gives none; never a number inside code;
   - ``choice``: a letter A-J given as the answer ("(B)", "B)", "answer is B");
   - ``text``: an answer phrase, then (with the question known) the other side of the first
     sentence that says something of the question's subject ("Paris is the capital of
     France"), else the object of a short final "... is X." sentence, then a short last line;
   - ``expression`` (the generic default): a leading Yes/No, an answer phrase, a final
     "equals"/"is" clause, the last number, a short last line;
   - ``code``: no answer (code is judged by what it does, not read).

When nothing applies, ``Reading.answer`` is None and ``Reading.reason`` says why (never a
guess). A reply cut off at ``max_tokens`` abstains too, unless told to keep such replies.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence

from ponder.core.problem import AnswerSpec
from ponder.core.types import ToolCall
from ponder.scoring import prose

GENERIC = AnswerSpec()
_MAX_ANSWER = 200

_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_DECLARED = re.compile(
    r"^[\s>*_#-]*(?:final\s+)?(?:answer|conclusion)\s*[:=]\s*(?P<ans>.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
# "answer is X", "Answer: X", "the answer to <anything> is X" (the last "is" on the line,
# outside quotes)
_ANSWER_PHRASE = re.compile(
    r"answer(?:\s+(?:to|for|of)\b[^\n]*)?\s*(?:\bis\b|\bremains\b|\bbecomes\b|\bwould\s+be\b|:|=)\s*:?\s*"
    r"(?:an?\s+)?(?P<ans>[^\n]+)",
    re.IGNORECASE,
)
_EQUALS = re.compile(
    r"(?:\bequals?\b|\bis\s+equal\s+to\b|\bgives\b|=)\s*(?P<ans>[^=\n]+?)\s*[.!]?\s*$",
    re.IGNORECASE,
)
_BECOMES = re.compile(
    r"\b(?:simplifies|reduces|becomes|comes\s+out)\s+to\s+(?P<ans>[^\n]+?)\s*[.!]?\s*$", re.I
)
_COPULA = re.compile(
    r"(?:\b(?:is|are|was|were|falls\s+on|fell\s+on|lands\s+on)|(?<=\w)'s)\s+(?P<ans>[^\n]+?)\s*[.!]?\s*$",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?(?![A-Za-z])"  # not "1st", "2x"
)
# a term in an unknown: "4x", "2n + 1", "6*h + 66", "k - 3"
_UNKNOWN = re.compile(
    r"\d[a-z]\b|(?<![A-Za-z])[a-z]\s*[-+*/^×]\s*\d|\d\s*[-+*/^×]\s*[a-z](?![A-Za-z])"
)
# an arithmetic expression left unevaluated at the end: "which is 97 * 97."
_UNEVALUATED = re.compile(r"[\d)](?:\s*[*×^]|\s+[-+x]\s)\s*\(?[-+]?\d[\d,.]*\)?\W*$")
_COUNT = re.compile(  # 'the letter "p" appears (in the text only) twice', 'it appears twice',
    # 'contains the letter "l" twice', 'two instances of the letter'
    r"(?:\bletters?\b[^.\n]*?|\bit\s+)\b(?:appears?|occurs?|is used|are used|shows up)\b"
    r"[^.\n]{0,30}?\b(?P<n>once|twice|thrice|(?P<w>\w+)\s+times?)\b|"
    r"\bletters?\s+\"?\w\"?\s+(?P<m>once|twice|thrice|(?P<v>\w+)\s+times?)\b|"
    r"\b(?P<k>\w+)\s+(?:instances?|occurrences?)\s+of\s+the\s+letter\b",
    re.IGNORECASE,
)
_ABSENT = re.compile(
    r"\b(?:is not used|does not appear|doesn't appear|never appears|not present)\b|"
    r"\bthere\s+is\s+no\s+letter\b",
    re.IGNORECASE,
)
_WORDS = dict(prose.NUMBER_WORDS) | {"once": 1, "twice": 2, "thrice": 3}
_FOLLOWS_NOT = re.compile(
    r"\b(?:does|do|did)\s+not\s+(?:logically\s+|necessarily\s+)?follow|"
    r"\b(?:doesn't|don't)\s+(?:logically\s+|necessarily\s+)?follow|\bnot\s+logically\s+follow|"
    r"\bcannot\s+be\s+(?:logically\s+)?(?:concluded|inferred|deduced)|"
    r"\bnot\s+(?:logically\s+)?(?:supported|entailed|implied)\b",
    re.IGNORECASE,
)
# a sentence that begins with its verdict: "Good point! Yes, it does."
_SAYS_YES_NO = re.compile(r"(?:^|[.!?:,]\s+|\n)\s*\**(yes|no)\b\**[,.!:]", re.IGNORECASE)
# "the conclusion ... is false" / "the conclusion is valid": the verdict on the conclusion
_CONCLUSION_IS = re.compile(
    r"\bconclusion\b[^.\n]{0,80}?\bis\s+(?P<v>false|invalid|not\s+valid|not\s+true|true|valid|"
    r"correct)\b",
    re.IGNORECASE,
)
_FOLLOWS = re.compile(r"\b(?:follows\s+logically|logically\s+follows)\b", re.IGNORECASE)
# "no" before a word is a determiner ("No children are horses"), not a verdict
_YES_NO = re.compile(r"\b(yes|no)\b(?!\s+[a-z])", re.IGNORECASE)
_LEADING_YES_NO = re.compile(
    r"^[\s*_(\[\"'`$\\]*(?:text\s*\{)?\s*(yes|no)\b\s*\}?[\s*_)\]\"'`$]*(?:[,.!:;\n]|$)",
    re.IGNORECASE,
)
_CHOICE = re.compile(r"^\(?([A-J])\)?(?:[.):\s]|$)")
_MARKED_CHOICE = re.compile(r"\(([A-J])\)|\b([A-J])\)|\b(?:option|choice)\s+([A-J])\b", re.I)


@dataclasses.dataclass(frozen=True)
class Reading:
    """An answer read from a reply, or None and why not."""

    answer: str | None
    reason: str


def read_answer(text: str, spec: AnswerSpec | None = None) -> Reading:
    """The answer ``text`` gives, read as ``spec`` (the generic reading when None)."""
    spec = spec or GENERIC
    if spec.type == "code":
        return Reading(None, "code answers are run, not read")
    prose = _INLINE_CODE.sub(lambda m: m.group(0).strip("`"), _CODE_BLOCK.sub(" ", text))
    for rule, found in (
        ("declared", _declared(prose)),
        ("boxed", _boxed_result(prose)),
        ("declared", _emphasised(prose, spec)),  # a bold closing line declares it too
    ):
        if found:
            answer = _coerce(found, spec)
            if answer is not None:
                return Reading(answer, rule)
    fallback = _FALLBACKS[spec.type]
    answer = fallback(prose, spec)
    if answer is not None:
        return Reading(answer[:_MAX_ANSWER], "fallback")
    if not prose.strip():
        return Reading(None, "empty reply")
    return Reading(None, f"no {spec.type.replace('_', '/')} answer found")


def extract_answer(text: str, spec: AnswerSpec | None = None) -> str | None:
    """The answer ``text`` gives, or None (see ``read_answer``)."""
    return read_answer(text, spec).answer


# -- the declared forms


# "### Final Answer" or "**Answer**" on a line of its own, the answer on the next
_HEADED = re.compile(
    r"^[ \t>]*(?:#{1,6}[ \t]*|\*\*|__)?[ \t]*(?:final[ \t]+)?answer[ \t]*(?:\*\*|__)?[ \t]*:?"
    r"[ \t]*(?:\*\*|__)?[ \t]*\n\s*(?P<ans>[^\n]+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def _declared(text: str) -> str | None:
    found = _DECLARED.findall(text)
    headed = list(_HEADED.finditer(text))
    if headed and (not found or text.rfind(found[-1]) < headed[-1].start()):
        found = [headed[-1].group("ans")]
    if not found:
        return None
    answer = _clean(found[-1])
    return (_phrase(answer) or answer) if answer else None


def _boxed_result(text: str) -> str | None:
    """The last ``\\boxed{X}``'s X, LaTeX text written out; when the box holds an expression
    left unevaluated and "= Y" follows it on its line, Y."""
    found = _last_boxed(text)
    if found is None:
        return None
    found = re.sub(r"\\(?:text|mathrm|textbf)\s*\{([^{}]*)\}", r"\1", found).strip()
    after = text[text.rfind(found) + len(found) :] if found in text else ""
    then = re.match(r"\s*\}\s*(?:\\\]|\$)?\s*=\s*([^\n]+)", after)
    if then and re.search(r"\\div|\\times|[-+*/÷×]", found):
        return then.group(1).strip().strip("$").strip()
    return found


_EMPHASISED = re.compile(
    r"(?:^|\n\s*\n)[ \t>]*(?:\*\*|__)(?P<ans>[^*_\n]{1,60}?)(?:\*\*|__)"
    r"[ \t]*(?:\([^()\n]*\))?[ \t]*[.!]?\s*$"
)


def _emphasised(text: str, spec: AnswerSpec) -> str | None:
    """A reply that ends on its answer alone, in bold, on a line of its own ("**272**",
    "**False**", "**0.171875** (about 17.2%)"): the way capable models close."""
    match = _EMPHASISED.search(text.rstrip())
    if match is None:
        return None
    found = match.group("ans").strip().rstrip(".:").strip()
    if spec.type in ("text", "expression") and len(found.split()) > 5:
        return None
    return found or None


def _last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` whose braces close (one pass over the
    text: each brace's match found with a stack, not by a scan per ``\\boxed``)."""
    if "\\boxed" not in text:
        return None
    closing: dict[int, int] = {}
    opened: list[int] = []
    for i, char in enumerate(text):
        if char == "{":
            opened.append(i)
        elif char == "}" and opened:
            closing[opened.pop()] = i
    start = text.rfind("\\boxed")
    while start >= 0:
        brace = text.find("{", start)
        if brace < 0:
            return None
        if brace in closing:
            return text[brace + 1 : closing[brace]].strip()
        start = text.rfind("\\boxed", 0, start)
    return None


def _coerce(found: str, spec: AnswerSpec) -> str | None:
    """A declared answer in the type's form (None when it is not of the type)."""
    if spec.type == "yes_no":
        return _yes_no(found, leading_only=False)
    if spec.type == "number":
        return _last_number(_latex_fractions(found))
    if spec.type == "choice":
        return _choice(found)
    return found


# -- fallbacks by type


def _clean(answer: str) -> str:
    answer = answer.strip().strip("*_`").strip()
    answer = re.sub(r"^\$+|\$+$", "", answer).strip()
    answer = re.sub(r"^\\\(|\\\)$", "", answer).strip()
    # the sentence ends at ". " or at the end; a trailing period is not part of the answer
    answer = re.split(r"\.\s", answer, maxsplit=1)[0]
    return answer.rstrip(".").strip().strip("*_`").strip()[:_MAX_ANSWER]


def _latex_fractions(text: str) -> str:
    return prose.fractions(text)


def _last_number(text: str) -> str | None:
    numbers: list[str] = _NUMBER.findall(text)
    return numbers[-1].replace(",", "").replace(" ", "") if numbers else None


def _conclusion(text: str) -> str:
    """The reply's last non-empty line, and of it the last sentence."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", lines[-1]) if s.strip()]
    return sentences[-1] if sentences else lines[-1]


def _unquoted(text: str) -> str:
    """``text`` with quoted passages blanked (a restated question is not the answer); short
    ones stay (an answer in quotes: 'the correct answer is "4"')."""
    return re.sub(r"\"[^\"\n]{9,}\"|“[^”\n]{9,}”", lambda m: " " * len(m.group(0)), text)


def _phrase(text: str) -> str | None:
    """The answer an answer phrase gives ("the answer is X"), or None."""
    blanked = _unquoted(text)
    phrases = list(_ANSWER_PHRASE.finditer(blanked))
    if not phrases:
        return None
    last = phrases[-1]
    answer = _clean(text[last.start("ans") : last.end("ans")])
    if not answer:
        return None
    nested = _phrase(answer) if len(answer) < len(text) else None
    if nested:
        return nested
    equals = _EQUALS.search(answer)  # "the answer is: 17 * 3 equals 51"
    if equals and (result := _clean(equals.group("ans"))):
        left = answer[: equals.start()].strip()
        if _NUMBER.fullmatch(left) and _no_value(result):
            return left  # "the answer is 122 = 67 + 75": the number, then how it was made
        return result
    if len(answer) > 60 and (number := _last_number(answer)):
        return number
    return answer


def _equals(text: str) -> str | None:
    """What a final "X equals Y" / "X is equal to Y" / "X = Y" clause gives (of the
    conclusion's concluding clause: "= 88, so the fraction is 133/149" is not "88, so ...")."""
    match = _EQUALS.search(_final_clause(_conclusion(_unquoted(text))))
    if match is None:
        return None
    return _clean(prose.cut(match.group("ans"))) or None


_LEADING_CLAUSE = re.compile(
    r"^\W*(?:in\s+(?:a|an|the)\b|if|since|because|as|given|when|whenever|where|after|before|once)\b"
    r"[^,]*,\s*(?=\S)",
    re.IGNORECASE,
)


def _final_clause(sentence: str) -> str:
    """A sentence's concluding clause: after its last "so"/"therefore"/"thus" and without
    a leading subordinate clause ("In a year where Wednesday is January 1st, March 29 is a
    Tuesday": "March 29 is a Tuesday")."""
    parts = [p for p in prose.split_clauses(sentence) if p.strip()]
    final = parts[-1] if parts else sentence
    return _LEADING_CLAUSE.sub("", final.strip())


def _yes_no(text: str, *, leading_only: bool) -> str | None:
    leading = _LEADING_YES_NO.match(text)
    if leading:
        return leading.group(1).capitalize()
    if leading_only:
        return None
    words = _YES_NO.findall(text)
    return words[-1].capitalize() if words else None


def _choice(text: str) -> str | None:
    match = _CHOICE.match(_clean(text))
    return match.group(1).upper() if match else None


_VERDICT_NOT = re.compile(
    r"^\W*(?:it|that|this|they)\s+(?:isn't|is\s+not|doesn't|does\s+not|aren't|are\s+not|"
    r"can't|cannot|won't|will\s+not)\b",
    re.IGNORECASE,
)


# "it is not:" as a verdict of its own, wherever in the reply's first sentence
_BARE_NOT = re.compile(
    r"\b(?:it|that|this|they)\s+(?:is|are|does|do)\s+not\s*(?:[:;,.—–]|$)", re.IGNORECASE
)
# "It is irrational", "It does": the question's own predicate affirmed
_AFFIRMS = re.compile(
    r"^\W*(?:it|that|this|they)\s+(?:is|are|does|do|can|will|was|were)\s+(?P<w>[a-z][a-z'-]+)",
    re.IGNORECASE,
)
# a direct question ("Is 97 prime?") and a reply that says its subject is or is not so
_DIRECT = re.compile(r"^\W*(?:is|are|was|were|does|do|did|can|will)\b", re.IGNORECASE)
_SAYS_SO = re.compile(
    r"^\W*(?P<subj>[^\s,:;.]+(?:\s+[^\s,:;.]+){0,3}?)\s+(?:is|are|was|were|does|do|can|will)"
    r"(?P<neg>\s+not|n't)?\s+(?P<w>[a-z][a-z'-]+)",
    re.IGNORECASE,
)


def _answers_directly(text: str, question: str) -> str | None:
    """ "97 is prime: ..." to "Is 97 prime?": Yes; "97 is not prime": No. Only for a direct
    question (not "Does it logically follow that ...", where restating the conclusion is no
    verdict), and only when the reply's subject and predicate are the question's."""
    ask = prose.ask(question) or ""
    if not _DIRECT.match(ask) or re.search(r"\bfollows?\b", ask, re.IGNORECASE):
        return None
    said = prose.sentences(prose.plain(text))
    match = _SAYS_SO.match(said[0]) if said else None
    if match is None:
        return None
    asked = set(re.findall(r"[a-z]+|\d+(?:\.\d+)?", ask.lower()))
    subject = re.findall(r"[a-z]+|\d+(?:\.\d+)?", match.group("subj").lower())
    if not subject or not set(subject) <= asked or match.group("w").lower() not in asked:
        return None
    return "No" if match.group("neg") else "Yes"


_VERDICT_WORDS = (
    (re.compile(r"\bin\s+the\s+affirmative\b", re.I), "Yes"),
    (re.compile(r"\bin\s+the\s+negative\b", re.I), "No"),
    (
        re.compile(
            r"\b(?:cannot|can't|can\s+not)\s+(?:make|draw|reach|form)\s+(?:a|any)\s+"
            r"(?:logical\s+|valid\s+)?conclusion",
            re.I,
        ),
        "No",
    ),
    (
        re.compile(
            r"\b(?:is|be|it's)\s+an?\s+(?:logical\s+)?fallacy\s+to\s+(?:say|conclude|claim)"
            r"(?:\s+that)?(?P<claim>[^.\n]*)",
            re.I,
        ),
        "No",
    ),
)
_ASKED_CONCLUSION = re.compile(r"\bfollows?\s+that\s*:?\s*(?P<c>[^?\n]+)", re.IGNORECASE)


def _about_conclusion(match: re.Match[str], question: str) -> bool:
    """Whether a verdict ("it is a fallacy to say that X") is on the question's conclusion,
    not on one of its premises."""
    claim = match.groupdict().get("claim")
    asked = _ASKED_CONCLUSION.search(question)
    if not claim or asked is None:
        return True
    said, conclusion = prose.content_words(claim), prose.content_words(asked.group("c"))
    return not said or said <= conclusion


_INSTRUCTION = re.compile(r"\(?\b(?:answer\s+)?(?:yes\s+or\s+no|no\s+or\s+yes|yes/no)\b\)?", re.I)


def _stated(text: str) -> str:
    """``text`` without the sentences that check or suppose ("If yes, then ...")."""
    return "\n".join(
        s for s in prose.sentences(text) if not re.match(r"\W*(?:if|as long as|unless)\b", s, re.I)
    )


def _read_yes_no(text: str, spec: AnswerSpec) -> str | None:
    # the instruction restated ("(Answer Yes or No)") and suppositions ("If yes, ...") are
    # not verdicts
    text = _stated(_INSTRUCTION.sub(" ", text))
    # "No, that isn't a trick question. The answer is yes": the stated answer stands
    if (phrase := _phrase(text)) is not None and (said := _yes_no(phrase, leading_only=True)):
        return said
    if (leading := _yes_no(text, leading_only=True)) is not None:
        return leading
    first = prose.sentences(text)[0] if text.strip() else ""
    if _VERDICT_NOT.match(text) or _BARE_NOT.search(first):
        return "No"  # "It isn't: 91 = 7 × 13.", "By the modern definition it is not: ..."
    affirmed = _AFFIRMS.match(text)
    if affirmed and affirmed.group("w").lower() in prose.content_words(spec.question):
        return "Yes"  # "It is irrational — ..." to "Is the square root of 2 irrational?"
    if (answered := _answers_directly(text, spec.question)) is not None:
        return answered
    if (phrase := _phrase(text)) is not None and (said := _yes_no(phrase, leading_only=False)):
        return said
    if (said := _yes_no(_conclusion(text), leading_only=False)) is not None:
        return said
    if said_at := _SAYS_YES_NO.findall(text):
        return str(said_at[-1]).capitalize()
    # "it does not logically follow" / "the conclusion follows logically": the verdict in words
    verdicts = [(m.start(), "No") for m in _FOLLOWS_NOT.finditer(text)]
    verdicts += [
        (m.start(), "Yes" if m.group("v").lower() in ("true", "valid", "correct") else "No")
        for m in _CONCLUSION_IS.finditer(text)
    ]
    verdicts += [(m.start(), "Yes") for m in _FOLLOWS.finditer(text)]
    verdicts += [
        (m.start(), v)
        for pattern, v in _VERDICT_WORDS
        for m in pattern.finditer(text)
        if _about_conclusion(m, spec.question)
    ]
    return max(verdicts)[1] if verdicts else None


def _no_value(answer: str) -> bool:
    """Whether ``answer`` states no number: an expression in an unknown ("4x + 2") or one
    left unevaluated ("97 * 97"); its last operand is not the answer."""
    if re.search(r"=|\bequals?\b", answer):
        return False  # "17 * 3 = 51": the result follows
    return bool(_UNKNOWN.search(answer) or _UNEVALUATED.search(answer))


def _read_number(text: str, spec: AnswerSpec) -> str | None:
    """The number the reply states (``ponder.scoring.prose``): its answer phrase's, a leading
    bare number, else the last sentence that states one; none when the reply ends by posing
    a question of its own, or states only an equation in an unknown."""
    seen = prose.plain(text)
    phrases = list(_ANSWER_PHRASE.finditer(_unquoted(_stated(seen))))
    phrase = _clean(phrases[-1].group("ans")) if phrases else ""
    if phrase and not re.match(r"(?:option|choice)\b", phrase, re.IGNORECASE):
        says, value = prose.sentence_number("The answer is " + phrase)
        if says:
            return value
    lead = prose.leading_number(text)
    if lead is None and prose.asks_back(text):
        return None
    says, value, concludes = prose.stated_number(text, spec.question)
    if lead is not None and not (says and concludes and value is not None):
        return lead  # a reply that opens with its answer, unless it concludes otherwise
    if says:
        return value
    if _ABSENT.search(seen):
        return "0"
    count = _COUNT.search(seen)
    if count is not None:
        groups = ("w", "n", "v", "m", "k")
        word = next(count.group(g) for g in groups if count.group(g)).lower()
        if word.isdigit():
            return word
        if word in _WORDS:
            return str(_WORDS[word])
    return prose.only_number(text)


def _read_choice(text: str, spec: AnswerSpec) -> str | None:
    phrase = _phrase(text)
    if phrase is not None and (letter := _choice(phrase)):
        return letter
    leading = re.match(r"^\W*\(?([A-J])\)?\s*(?:[.):,]|—|–|\s-)\s", text)  # "D — the Pacific"
    if leading:
        return leading.group(1)
    marked = _MARKED_CHOICE.findall(
        _conclusion(re.sub(r"\s*\([^()]*\s[^()]*\)", "", text))
    )  # "(B)", "C)", "option D"
    letter = next((m for m in marked[-1] if m), None) if marked else None
    return letter.upper() if letter else None


_CLOSING_WORD = re.compile(
    r"(?:[—–:]|\bso\b|\btherefore\b|\bthus\b)\s*[*_\"'`]*(?P<ans>[A-Za-z][\w'-]*(?:\s+[\w'-]+)?)"
    r"[*_\"'`]*\s*[.!]?\s*$",
    re.IGNORECASE,
)


def _read_text(text: str, spec: AnswerSpec) -> str | None:
    if (phrase := _phrase(text)) is not None:
        return _clean(prose.cut(phrase)) or phrase  # "`False` because 'q' is missing"
    closing = _CLOSING_WORD.search(_conclusion(prose.plain(text)))
    if closing and closing.group("ans").split()[0].lower() not in ("it", "this", "that", "the"):
        return closing.group("ans")  # "... so it's not possible — False.", "So: False."
    if spec.question:
        stated = prose.stated_text(text, spec.question)
        if stated is None and len(text.split()) <= 3:
            stated = _clean(text) or None  # "Tokyo."
        return stated
    conclusion = _conclusion(_unquoted(text))
    copula = _COPULA.search(conclusion)
    if copula:  # "... is Ottawa, Canada." / "... is Rome, also known as ...": up to the comma
        answer = _clean(copula.group("ans").split(", ")[0]).split()
        if 0 < len(answer) <= 6:
            return " ".join(answer)
    if conclusion and len(conclusion) <= 80:
        return _clean(conclusion) or None
    return None


def _read_expression(text: str, spec: AnswerSpec) -> str | None:
    found = _read_expression_raw(text, spec)
    if found is None:
        return None
    found = re.sub(
        r"^([^A-Za-z]*?[\d)}\]])\s+[a-z]{3,}\b.*$", r"\1", found
    ).strip()  # "2/5 after ..."
    asked = re.sub(r"\s+", "", prose.plain(spec.question))
    squashed = re.sub(r"\s+", "", found)
    if len(squashed) >= 3 and re.search(r"[-+*/^]", squashed) and squashed in asked:
        return None  # the question's own expression restated
    if re.match(r"(?:an?|the|still|not|also|just|only|very)\b", found, re.IGNORECASE):
        return None  # "a rational number", "not a Saturday in 2022": a description
    if re.search(r"\b(?:a|an|the|of|to|is|are|and|or|with|by|called)\W*$", found, re.IGNORECASE):
        return None  # a sentence broken off: "is called a"
    return found


def _read_expression_raw(text: str, spec: AnswerSpec) -> str | None:
    if (leading := _yes_no(text, leading_only=True)) is not None:
        return leading
    text = prose.plain(text)
    for found in (_phrase(text), _equals(text)):
        if found:
            return found
    conclusion = _conclusion(_unquoted(text))
    final = _final_clause(conclusion)
    copula = _COPULA.search(final) or _BECOMES.search(final)
    if copula:
        answer = _clean(prose.cut(copula.group("ans")))
        named = re.fullmatch(r"(?:an?|the)\s+([A-Z][\w'-]*)", answer)
        answer = named.group(1) if named else answer  # "a Tuesday"
        if (
            answer
            and len(answer) <= 40
            and not re.search(r"[A-Za-z]{4,}", re.sub(r"\\[A-Za-z]+", "", answer))
        ):
            return answer  # "x + 3", "5√2": an expression stands whole
        if len(answer.split()) <= 4 and (number := _last_number(answer)):
            return number
        if answer and len(answer.split()) <= 6:
            return answer
    number = _read_number(text, spec)  # the number the reply states
    if number:
        return number
    if (
        (number := _last_number(conclusion)) is not None
        and not _no_value(conclusion)
        and re.search(r"\d\W*$", conclusion)
        and not re.search(r"[A-Za-z]{4,}", conclusion)
    ):
        return number  # read generically: the number the conclusion ends with
    if (
        conclusion
        and len(conclusion.split()) <= 4
        and not re.search(r"(?::|\b(?:is|are|was|with|of|the|an?|to))\W*$", conclusion)
    ):
        return _clean(conclusion) or None  # a short last line: "Saturday.", "x + 3"
    return None


_FALLBACKS = {
    "yes_no": _read_yes_no,
    "number": _read_number,
    "choice": _read_choice,
    "text": _read_text,
    "expression": _read_expression,
}


def tool_call_answer(calls: Sequence[ToolCall]) -> str:
    """A reply's tool calls as one answer that votes can compare: each call's name and its
    arguments parsed and written again with sorted keys and no spacing, in the reply's order
    (arguments that are not JSON are kept as written, stripped). Calls' ids are left out:
    two replies that call the same function with the same arguments agree."""
    normal = []
    for call in calls:
        try:
            arguments: object = json.loads(call.arguments)
        except ValueError:
            arguments = call.arguments.strip()
        normal.append({"name": call.name, "arguments": arguments})
    return json.dumps(normal, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
