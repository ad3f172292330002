"""One display helper for our own names (lorastudio.labels)."""

from lorastudio.labels import label, warning_word


def test_label_words_our_names():
    assert label("three_quarter") == "three-quarter"
    assert label("close_up") == "close-up"
    assert label("full_body") == "full body"
    assert label("none") == "no pose"
    assert label("candidate") == "anchor candidates"
    assert label("arms_up") == "arms up"
    assert label("local") == "the local simulator"


def test_warning_word_gives_a_badge_its_word():
    assert warning_word("Small: 600 × 400; 768 px or more on the short side.") == "small"
    assert warning_word("Looks blurry: a sharper photo will train better.") == "blurry"
    assert warning_word("Looks like image #12 (a near duplicate).") == "like #12"
