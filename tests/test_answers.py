from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder.scoring.answers import equivalent, majority_vote, normalize_text
from ponder.scoring.extraction import extract_answer


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so the result is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("first \\boxed{3} then \\boxed{x^{2}}", "x^{2}"),
        ("The final answer is 42.", "42"),
        ("Answer: **Paris**", "Paris"),
        ('The answer to the question "What is 7 * 8?" is 54.', "54"),
        ('Answer: The answer to the question "What is 7 * 8?" is 54', "54"),
        ("So the answer for part b = 12", "12"),
        ("7 * 8 = 56.", "56"),
        ("It costs 1,024 dollars", "1024"),
        ("the ratio is 3/4", "3/4"),
        ("We get -2.5 in the end", "-2.5"),
        ("Thinking...\nblue", "blue"),
        ("", None),
    ],
)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("1/2", "0.5", True),
        ("\\frac{1}{2}", "0.5", True),
        ("56", "56.0", True),
        ("56", "65", False),
        ("Paris", "paris.", True),
        ("The Nile", "nile", True),
        ("Paris", "London", False),
        ("2", "two apples", False),
    ],
)
def test_equivalence(a: str, b: str, same: bool) -> None:
    assert equivalent(a, b) is same
    assert equivalent(b, a) is same


def test_normalize_text() -> None:
    assert normalize_text("  **The  Answer** ") == "answer"


def test_vote_groups_equivalent_answers_and_breaks_ties_to_the_earliest() -> None:
    vote = majority_vote(["0.5", "3", "1/2", "3", None])
    assert [(g.answer, g.members) for g in vote.groups] == [("0.5", (0, 2)), ("3", (1, 3))]
    assert vote.answer == "0.5"  # tie 2-2: the group that appeared first wins
    assert majority_vote(["3", "0.5", "1/2", "3"]).answer == "3"
    assert majority_vote([None, None]).answer is None


def test_a_group_answers_in_its_most_common_form() -> None:
    # a scorer may accept "6" and not "6 + 0 = 6": the form most samples wrote is reported
    assert majority_vote(["6 + 0 = 6", "5", "6", "6"]).answer == "6"
    assert majority_vote(["1/2", "0.5", "0.5", "1/2"]).answer == "1/2"  # tie: the earliest
    vote = majority_vote(["6 + 0 = 6", "6"])
    assert vote.groups[0].members == (0, 1)


def test_weighted_vote() -> None:
    vote = majority_vote(["a", "b", "b"], weights=[5.0, 1.0, 1.0])
    assert vote.answer == "a" and vote.winner is not None and vote.winner.weight == 5.0
    with pytest.raises(ValueError):
        majority_vote(["a"], weights=[1.0, 2.0])


answers = st.lists(st.one_of(st.none(), st.sampled_from(["1", "2", "3", "x", "y"])), max_size=12)


@given(answers)
@settings(max_examples=200, deadline=None)
def test_vote_never_picks_an_answer_with_fewer_votes(values: list[str | None]) -> None:
    vote = majority_vote(values)
    counts = {v: values.count(v) for v in values if v is not None}
    if not counts:
        assert vote.answer is None
        return
    assert vote.answer is not None
    assert counts[vote.answer] == max(counts.values())
    # the tie goes to the answer seen first
    tied = [v for v in counts if counts[v] == max(counts.values())]
    assert vote.answer == min(tied, key=values.index)


@given(answers, st.lists(st.floats(0.0, 10.0), min_size=12, max_size=12))
@settings(max_examples=200, deadline=None)
def test_weighted_vote_never_picks_a_lighter_answer(
    values: list[str | None], weights: list[float]
) -> None:
    w = weights[: len(values)]
    vote = majority_vote(values, weights=w)
    totals: dict[str, float] = {}
    for v, x in zip(values, w, strict=True):
        if v is not None:
            totals[v] = totals.get(v, 0.0) + x
    if totals:
        assert vote.answer is not None
        assert totals[vote.answer] >= max(totals.values()) - 1e-9


# -- reading answers by the kind the task asks for


@pytest.mark.parametrize(
    "text, expected",
    [
        # the review's misreads, read generically (``ponder solve`` without a task)
        ("No, it does not logically follow that all cats are dogs.", "No"),
        ("3 divided by 4 is equal to \\(\\frac{3}{4}\\).", "3/4"),
        ("The capital of France is Paris.", "Paris"),
        ('Here is the answer to the question "What is 17 * 3?":\n\n17 * 3 equals 51.', "51"),
        ("Yes. Every bird here can fly.", "Yes"),
        ("**No**", "No"),
        ("Let me think.\n\nAnswer: 12", "12"),
        # the reply states its result first, then trails off restating the question
        ("17 * 3 = 51\n\nIn this case, 17 * 3 represents the result of multiplying 17 by 3.", "51"),
    ],
)
def test_generic_reading(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "kind, text, expected",
    [
        ("yes_no", "No, it does not logically follow that...", "No"),
        ("yes_no", "Step 1: all A are B.\nStep 2: so no C is A.\nTherefore, yes.", "Yes"),
        ("yes_no", "\\text{No}", "No"),
        # issue 32's misreads of prose (the rest are in tests/data/answers/)
        ("yes_no", "The conclusion is not logically supported.", "No"),
        ("yes_no", "No, that is not a trick. The answer is yes, it does.", "Yes"),
        ("number", "Therefore, the GCD of 48 and 18 is 6. Note that 18 = 2 * 9.", "6"),
        ("number", "So the final result is 34, which is less than 40.", "34"),
        ("number", "It dropped by 5 degrees, from 12 to 7 degrees.", "5"),
        ("number", "Therefore, the number of white blocks is nineteen.", "19"),
        ("number", "It is 0.75, i.e. 75%.", "0.75"),
        ("number", "The probability is 3/8, or 37.5%.", "3/8"),
        ("expression", "The answer is \\(\\dfrac{5}{8}\\).", "5/8"),
        ("yes_no", "(No)", "No"),
        ("yes_no", "The conclusion follows.\n\nAnswer: no", "No"),
        ("yes_no", "Step 1 is wrong. Step 2 is 3.", None),
        ("number", "Step 1: 2 + 3 = 5\nStep 2: 5 * 4 = 20\nThe answer is 20 apples.", "20"),
        ("number", "```python\nprint(99)\n```\nSo there are 7 letters.", "7"),
        ("number", "The fraction is \\frac{3}{4}.", "3/4"),
        ("number", "Answer: 1,024", "1024"),
        ("number", "I cannot tell.", None),
        # an expression in an unknown, or one left unevaluated, states no number
        ("number", "We get 2x objects.\n\nSo the answer is 4x + 2.", None),
        ("number", "We multiply 97 by itself, which is 97 * 97.", None),
        ("number", "Solve: 8 * 0.", None),
        ("number", "which is 97 * 97 = 9409.", "9409"),
        ("number", "The final answer is 122 = 67 + 75.", "122"),
        # an equation in the unknown is no solution; "h = 65" is
        ("number", "The equation 6*h + 66 = 456 is not applicable here.", None),
        ("number", "6*h + 66 = 456, so h = 65.", "65"),
        ("number", "2x = 10 so x = 5.", "5"),
        ("number", "8\n\n8 * 2.", "8"),  # leads with a bare number
        ("number", "x x x 7", "7"),  # a letter x between words is no times sign
        ("number", "So it is 8 x 3.", None),
        ("choice", "The correct option is (B) because...\n\nAnswer: B", "B"),
        ("choice", "I pick C) since it is the largest.", "C"),
        ("text", "The capital of France is Paris.", "Paris"),
        ("code", "```python\ndef f(): return 1\n```", None),
    ],
)
def test_reading_by_declared_type(kind: str, text: str, expected: str | None) -> None:
    from ponder.core.problem import AnswerSpec

    assert extract_answer(text, AnswerSpec(kind)) == expected  # type: ignore[arg-type]


# how capable models close a reply (written for round 3 of the corpus's rules, with their
# questions; the corpus measures the rules on replies they were not written on)
@pytest.mark.parametrize(
    "kind, question, text, expected",
    [
        (
            "number",
            "How many legs in total for 2 dogs and 3 birds?",
            "Dogs: 2 × 4 = 8\nBirds: 3 × 2 = 6\n\n### Final Answer\n14",
            "14",
        ),
        ("number", "How many legs in total for 2 dogs and 3 birds?", "## Answer\n\n14 legs", "14"),
        ("number", "How many apples are left?", "We get 17.", "17"),
        (
            "number",
            "How many apples are left?",
            "That leaves us with 17 apples, which is less than the 20 she started with.",
            "17",
        ),
        ("number", "What is 15% of 80?", "15% of 80 is 12.\n\nHope this helps!", "12"),
        ("number", "What is 15% of 80?", "It's 12 — 10% is 8 and 5% is 4.", "12"),
        (
            "number",
            "How many sisters does Alice's brother have?",
            "Alice's brother has **3 sisters**: Alice and her two sisters.",
            "3",
        ),
        ("number", "Compute 7 * 8.", "7 × 8 = 56", "56"),
        ("number", "Compute 7 * 8.", "$7 \\times 8 = 56$", "56"),
        (
            "number",
            "What is the probability of exactly 2 heads in 4 flips?",
            "$$P = \\binom{4}{2}/16 = \\frac{6}{16} = \\frac{3}{8}$$",
            "3/8",
        ),
        (
            "number",
            "How many primes below 20?",
            "There are eight: 2, 3, 5, 7, 11, 13, 17, 19.",
            "8",
        ),
        ("number", "What is the GCD of 12 and 18?", "**GCD(12, 18) = 6**", "6"),
        (
            "number",
            "What is the GCD of 12 and 18?",
            "gcd(12, 18) = 6, since 6 divides both and nothing larger does.",
            "6",
        ),
        ("number", "What is 2^10?", "2^10 = 1024.", "1024"),
        ("number", "What is the remaining angle?", "The remaining angle measures 28°.", "28"),
        (
            "number",
            "How many days are there between the two dates?",
            "Counting both endpoints, that's 43 days.",
            "43",
        ),
        ("number", "How many days?", "I count 43 days in total (including both dates).", "43"),
        ("number", "Calculate 3.5 + 2.25.", "3.5 + 2.25 = 5.75\n\n**Answer:** 5.75", "5.75"),
        ("number", "What is the average of 63 and 91?", "The average is (63 + 91) / 2 = 77.", "77"),
        ("number", "What is the average of 63 and 91?", "Average = 154 / 2 = 77 years.", "77"),
        ("number", "How much does she pay?", "She pays $1,250.50 in total.", "1250.50"),
        ("number", "How many friends can she invite?", "She can invite **3 friends**.", "3"),
        (
            "number",
            "How many friends can she invite?",
            "Mia can invite 3 friends (4 people in all, including herself).",
            "3",
        ),
        (
            "yes_no",
            "Does it logically follow that some A are C?",
            "**No.** The premises do not guarantee any overlap.",
            "No",
        ),
        (
            "yes_no",
            "Does it logically follow that some A are C?",
            "It does not follow: the A's that are B may not be C.",
            "No",
        ),
        (
            "yes_no",
            "Does it logically follow that some A are C?",
            "Yes — by conversion, some C are A means some A are C.",
            "Yes",
        ),
        ("yes_no", "Is 91 prime?", "91 = 7 × 13, so 91 is not prime.\n\n**Answer: No**", "No"),
        ("yes_no", "Is 97 prime?", "97 is prime: it has no divisor up to √97 ≈ 9.8.", "Yes"),
        (
            "text",
            "What is the capital of Australia?",
            "Canberra (not Sydney, which is the largest city).",
            "Canberra",
        ),
        (
            "text",
            "What is the capital of Australia?",
            "The capital of Australia is **Canberra**.",
            "Canberra",
        ),
        (
            "text",
            "How is Tom related to Anna? Provide the relationship in one word.",
            "Tom is Anna's **grandfather**.",
            "grandfather",
        ),
        ("text", "What is Liam to Charlotte? Respond only with the word.", "Husband", "Husband"),
        (
            "text",
            "What is Liam to Charlotte? Respond only with the word.",
            "**Husband** — Liam is married to Charlotte.",
            "Husband",
        ),
        ("text", "Return True if the note can be constructed, False otherwise.", "True", "True"),
        (
            "text",
            "Return True if the note can be constructed, False otherwise.",
            "The answer is `False` because 'q' is missing.",
            "False",
        ),
        (
            "text",
            "What is the name of the person who lives in House 1?",
            "The person in House 1 is **Arnold**.",
            "Arnold",
        ),
        (
            "text",
            "What is the name of the person who lives in House 1?",
            "Arnold lives in House 1.",
            "Arnold",
        ),
        ("expression", "Simplify the fraction 18/24.", "$\\frac{3}{4}$", "3/4"),
        ("expression", "Simplify the fraction 18/24.", "Dividing by 6: 18/24 = **3/4**", "3/4"),
        (
            "expression",
            "Simplify the fraction 18/24.",
            "The fraction in lowest terms is 3/4.",
            "3/4",
        ),
        (
            "expression",
            "What weekday is March 29?",
            "March 29 falls on a **Saturday**.",
            "Saturday",
        ),
        ("expression", "What weekday is March 29?", "It's a Saturday.", "Saturday"),
        # the claim's subject is "there": found by the held-out Qwen check, after round 3
        (
            "number",
            "How many 1 bits are there in the binary representation of the number 1392637169?",
            "When you run it, it outputs 18.\n\nThis means there are 18 1 bits in the binary "
            "representation of the number 1392637169.",
            "18",
        ),
        (
            "number",
            "How many 1 bits are there in the binary representation of the number 26367330?",
            "This indicates that there are 12 bits in the binary representation of 26367330.",
            "12",
        ),
        # a number claimed of something the question does not ask of is not its answer
        (
            "number",
            "Find the LCM of 4 and 9.",
            "Their LCM is 36. Their GCD, by contrast, is 1.",
            "36",
        ),
        (
            "number",
            "How many times does Thursday occur?",
            "The number of days in a month is 365.",
            None,
        ),
        (
            "number",
            "Find the LCM of 8 and 88.",
            "Since 88 is a multiple of 8, the LCM is simply 88.",
            "88",
        ),
        ("number", "Find y if 3y = 2y + 7.", "Subtracting 2y from both sides leaves y = 7.", "7"),
        (
            "number",
            "Alice has 1 female friend.",
            "Now we add this to 1.\n\nSo the answer is 4x + 2.",
            None,
        ),
        (
            "yes_no",
            "1. Some children are not bees 2. Some bees are horses. Does it logically follow "
            "that: No children are horses?",
            "I think it is a logical fallacy to say that some children are not bees.",
            None,
        ),
        (
            "yes_no",
            "Does it logically follow that: Some ants are not spiders?",
            "It is a logical fallacy to say that some ants are not spiders.",
            "No",
        ),
    ],
)
def test_capable_closings(kind: str, question: str, text: str, expected: str | None) -> None:
    from ponder.core.problem import AnswerSpec
    from ponder.scoring.answers import equivalent

    got = extract_answer(text, AnswerSpec(kind, question=question))  # type: ignore[arg-type]
    assert got == expected if expected is None or got is None else equivalent(got, expected)


def test_an_unread_answer_says_why() -> None:
    from ponder.core.problem import AnswerSpec
    from ponder.scoring.extraction import read_answer

    reading = read_answer("Step 1 is wrong.", AnswerSpec("yes_no"))
    assert reading.answer is None and reading.reason == "no yes/no answer found"
    assert read_answer("", None).reason == "empty reply"
    assert read_answer("x", AnswerSpec("code")).reason.startswith("code answers are run")


def test_a_reply_cut_off_at_max_tokens_abstains_unless_kept() -> None:
    from ponder.core.types import Completion
    from ponder.runtime.sampling import candidate_from

    cut = Completion("Step 1: 3 + 4 = 7\nStep 2: 7 * 2 = 14\nStep 3: 14 +", "length", 256)
    candidate = candidate_from(cut)
    assert candidate.answer is None and candidate.abstained == "cut off at max_tokens"
    assert candidate_from(cut, keep_cut_off=True).answer == "14"


def test_tasks_declare_their_answer_and_ask_for_it() -> None:
    from ponder.tasks import make_task

    syllogism = make_task("syllogism", {}, seed=0)
    problem = syllogism.problems(1)[0]
    assert problem.answer is not None and problem.answer.type == "yes_no"
    assert "Answer:" not in problem.question  # reasoning-gym says how to answer already
    products = make_task("products", {}, seed=0).problems(1)[0]
    assert products.answer is not None and products.answer.type == "number"
    asked = make_task("syllogism", {"instruction": None}, seed=0)
    assert asked.problems(1)[0].question == problem.question
    told = make_task("syllogism", {"instruction": "Reply Yes or No."}, seed=0).problems(1)[0]
    assert told.question.endswith("\n\nReply Yes or No.")
    assert make_task("humaneval", {}).problems(1)[0].answer.type == "code"  # type: ignore[union-attr]


def test_a_jsonl_task_infers_its_answer_and_asks_for_a_final_line(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from ponder.tasks import make_task

    path = Path(str(tmp_path)) / "q.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"question": f"Is {i} even?", "answer": "yes" if i % 2 == 0 else "no"})
            for i in range(3)
        )
    )
    task = make_task(str(path))
    problem = task.problems()[0]
    assert problem.answer is not None and problem.answer.type == "yes_no"
    assert problem.question.endswith("`Answer: Yes` or `Answer: No`.")


def test_code_behaviours_are_equal_only_when_identical() -> None:
    """A behaviour's results are not one number for math-verify to read (a short function
    name made ``add(20, 1) -> 21; add(-5, 5) -> 0`` and ``... -> 0; ... -> 0`` one group)."""
    from ponder.scoring.answers import equivalent, majority_vote

    right = "add(1, 2) -> 3; add(20, 1) -> 21; add(-5, 5) -> 0"
    wrong = "add(1, 2) -> 3; add(20, 1) -> 0; add(-5, 5) -> 0"
    assert not equivalent(right, wrong) and equivalent(right, right)
    assert not equivalent("f('x') -> 'A'", "f('x') -> 'a'")
    assert len(majority_vote([wrong, wrong, right]).groups) == 2
    assert equivalent("1/2", "0.5")  # mathematics is still read as mathematics
