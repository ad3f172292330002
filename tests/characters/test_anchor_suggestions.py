import dataclasses

import pytest

from characters.anchor_suggestions import Suggestion, suggest_anchor

FITNESS_POSES = ["front", "back", "side", "quarter", "arms_up", "bent", "seated", "hanging"]
FITNESS_LABELS = {
    "front": "Front",
    "back": "Back",
    "side": "Side profile",
    "quarter": "Three-quarter",
    "arms_up": "Arms overhead",
    "bent": "Bent over",
    "seated": "Seated",
    "hanging": "Hanging from bar",
}


def suggest(prompt: str, poses: list[str] = FITNESS_POSES) -> Suggestion:
    return suggest_anchor(prompt, poses, FITNESS_LABELS)


@pytest.mark.parametrize(
    ("prompt", "pose"),
    [
        ("chin-up, chin above the bar", "hanging"),
        ("romanian deadlift, barbell at mid-shin", "bent"),
        ("overhead press at lockout", "arms_up"),
    ],
)
def test_the_examples_from_the_issue_get_their_closest_anchor(prompt, pose):
    assert suggest(prompt).pose == pose


# Every row of seed 000's "Anchor Selection Logic" table.
@pytest.mark.parametrize(
    ("prompt", "pose"),
    [
        ("pull-up top position, chin above the bar", "hanging"),
        ("chin-up top, underhand grip", "hanging"),
        ("bent-over barbell row, bar pulled to the stomach", "bent"),
        ("deadlift start position, hips low, gripping the bar", "bent"),
        ("seated at a lat pulldown machine", "seated"),
        ("cable row, handle pulled to the stomach", "seated"),
        ("dumbbell bicep curl, elbows tucked", "front"),
        ("front view, arms crossed", "front"),
        ("rear view, arms relaxed", "back"),
        ("shoulder press with dumbbells", "arms_up"),
        ("bodyweight squat at parallel", "side"),
        ("push-up bottom position", "side"),
        ("forward lunge, knee bent at 90 degrees", "quarter"),
    ],
)
def test_every_row_of_the_seed_table_maps_to_its_anchor(prompt, pose):
    assert suggest(prompt).pose == pose


@pytest.mark.parametrize(
    ("prompt", "pose"),
    [
        ("hanging leg raise, legs at hip height", "hanging"),
        ("muscle-up over the bar", "hanging"),
        ("dead hang, straight arms", "hanging"),
        ("good morning with a barbell", "bent"),
        ("hip hinge with a dowel", "bent"),
        ("bent-over reverse fly, arms out to the sides", "bent"),
        ("bent over, arms hanging straight down", "bent"),
        ("one-arm dumbbell row braced on a flat bench", "bent"),
        ("seated cable row, knees slightly bent", "seated"),
        ("sitting on a bench, hands on thighs", "seated"),
        ("seated dumbbell curl", "seated"),
        ("hammer curl, neutral grip", "front"),
        ("front raise with a plate", "front"),
        ("lateral raise to shoulder height", "front"),
        ("standing facing the camera, arms relaxed", "front"),
        ("back double biceps seen from behind", "back"),
        ("standing with back to the camera", "back"),
        ("showing the rear delts", "back"),
        ("military press, bar over the head", "arms_up"),
        ("arms up, celebrating", "arms_up"),
        ("jumping jack top position", "arms_up"),
        ("barbell snatch at the catch", "arms_up"),
        ("overhead triceps extension behind the head", "arms_up"),
        ("forearm plank, body straight", "side"),
        ("side plank on one elbow", "side"),
        ("standing in side profile", "side"),
        ("reverse lunge, knee near the floor", "quarter"),
        ("bulgarian split squat, rear foot on a bench", "quarter"),
        ("step-up onto a box", "quarter"),
        ("standing in three-quarter view", "quarter"),
        ("3/4 view, hands on hips", "quarter"),
    ],
)
def test_the_seed_logic_extends_to_the_exercises_it_implies(prompt, pose):
    assert suggest(prompt).pose == pose


@pytest.mark.parametrize(
    ("prompt", "pose"),
    [
        # A named exercise beats a bare position word: the seed maps shoulder press to arms_up.
        ("seated shoulder press", "arms_up"),
        ("seated cable row", "seated"),
        ("bent-over row", "bent"),
        ("hanging leg raise", "hanging"),
        ("side plank", "side"),
        ("reverse lunge", "quarter"),
        ("romanian deadlift", "bent"),
        ("overhead press", "arms_up"),
        # Compounds before their parts, and body position before camera angle.
        ("bulgarian split squat", "quarter"),
        ("front squat", "side"),
        ("back squat", "side"),
        ("lateral lunge", "quarter"),
        ("upright row", "front"),
        ("pull-up, facing the camera", "hanging"),
        ("seated, three-quarter view", "seated"),
        ("bent-over lateral raise", "bent"),
        ("bicep curl, side view", "side"),
    ],
)
def test_specific_rules_win_over_general_ones(prompt, pose):
    assert suggest(prompt).pose == pose


@pytest.mark.parametrize(
    "prompt",
    ["pull-up", "pull up", "pullup", "Pull-Ups", "PULL UPS", "chin up", "chinup", "Chin-Ups"],
)
def test_pull_up_and_chin_up_match_in_every_spelling(prompt):
    assert suggest(prompt).pose == "hanging"


@pytest.mark.parametrize("prompt", ["push up", "push-up", "pushups", "Push-Ups", "SQUATS"])
def test_push_up_and_squat_match_in_every_spelling(prompt):
    assert suggest(prompt).pose == "side"


@pytest.mark.parametrize(
    "prompt",
    [
        "arms relaxed at the sides",  # not "side"
        "upside down",
        "plain cream background",  # not "back"
        "back straight, flat background",
        "holding an arrow",  # not "row"
        "narrow stance",
        "shoulder pressure",  # not "press"
        "impressive physique",
        "arms hanging at the sides",  # not "hanging from a bar"
        "curly hair",  # not "curl"
    ],
)
def test_words_only_match_on_word_boundaries(prompt):
    suggestion = suggest(prompt)

    assert suggestion.matched is None
    assert suggestion.pose == "front"


@pytest.mark.parametrize(
    ("prompt", "poses", "pose"),
    [
        ("chin-up, arms overhead", ["front", "arms_up"], "arms_up"),
        ("seated shoulder press", ["front", "seated"], "seated"),
        ("squat, three-quarter view", ["front", "quarter"], "quarter"),
        ("bent-over reverse fly seen from behind", ["back", "front"], "back"),
    ],
)
def test_a_pose_the_character_lacks_falls_through_to_the_next_rule(prompt, poses, pose):
    assert suggest(prompt, poses).pose == pose


def test_a_matched_pose_the_character_lacks_falls_back_to_front_and_says_why():
    suggestion = suggest("chin-up, chin above the bar", ["front", "back", "side"])

    assert suggestion == Suggestion("front", suggestion.reason, None)
    assert "chin-up" in suggestion.reason
    assert "Hanging from bar" in suggestion.reason
    assert "lacks" in suggestion.reason


def test_no_match_suggests_front_as_the_neutral_default():
    suggestion = suggest("juggling three balls")

    assert suggestion.pose == "front"
    assert suggestion.matched is None
    assert "No rule matched" in suggestion.reason
    assert "juggling three balls" in suggestion.reason
    assert "neutral" in suggestion.reason


def test_no_match_and_no_front_pose_suggests_the_first_pose():
    suggestion = suggest_anchor("juggling", ["waist_up", "seated"])

    assert suggestion.pose == "waist_up"
    assert suggestion.matched is None
    assert "no front pose" in suggestion.reason
    assert "Waist up" in suggestion.reason


def test_a_character_without_poses_is_refused():
    with pytest.raises(ValueError):
        suggest_anchor("pull-up", [])


@pytest.mark.parametrize(
    ("prompt", "matched"),
    [
        ("chin-up, chin above the bar", "chin-up"),
        ("Romanian Deadlift, bar at mid-shin", "Romanian Deadlift"),
        ("standing overhead press", "overhead press"),
        ("bulgarian split squats", "split squats"),
        ("wide grip Pull Ups", "Pull Ups"),
    ],
)
def test_the_reason_quotes_the_matched_words_and_names_the_pose_label(prompt, matched):
    suggestion = suggest(prompt)

    assert suggestion.matched == matched
    assert f"“{matched}”" in suggestion.reason
    assert FITNESS_LABELS[suggestion.pose] in suggestion.reason


def test_the_reason_reads_as_one_sentence():
    assert suggest("chin-up, chin above the bar").reason == (
        "“chin-up” → Hanging from bar: already in the bar-hanging position, "
        "so the edit stays small."
    )


def test_without_labels_the_reason_names_the_key_in_words():
    suggestion = suggest_anchor("overhead press", ["front", "arms_up"])

    assert suggestion.pose == "arms_up"
    assert "→ Arms up:" in suggestion.reason


def test_a_suggestion_cannot_be_changed():
    with pytest.raises(dataclasses.FrozenInstanceError):
        suggest("pull-up").pose = "front"  # type: ignore[misc]
