"""issues.shorten is remembered (lru_cache): the same text and limit give what the function itself
(``shorten.__wrapped__``) gives, the first time and the next; a negative control shows a wrong
remembered value would be noticed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.issues import Issues, shorten


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab ,.;:\n\té…"), max_size=90), st.integers(2, 70))
def test_remembered_is_the_function_itself(text: str, limit: int) -> None:
    for _ in range(2):
        assert shorten(text, limit) == shorten.__wrapped__(text, limit)
        assert shorten(text) == shorten.__wrapped__(text)


def test_labels_use_it_and_a_wrong_value_is_noticed() -> None:
    issues = Issues()
    issues.questions = {"q1": {"text": "A question   with\nblanks " + "word " * 20}}
    assert issues.label("q1") == f"'{shorten.__wrapped__(issues.questions['q1']['text'])}'"
    assert shorten("x" * 80, 10) != shorten.__wrapped__("x" * 80, 20)
