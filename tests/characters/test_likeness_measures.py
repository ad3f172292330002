"""The face measure on real photographs (scikit-image, matplotlib): the calibrated
thresholds of docs/likeness.md, pinned. No database."""

import itertools

import numpy as np
import pytest

from characters.likeness import calibration
from characters.likeness.base import distance, flag_for, score_for
from characters.likeness.face import MIN_FACE_PX, FaceMeasure
from characters.likeness.rough import RoughMeasure
from characters.models import LikenessFlag

face = FaceMeasure()


@pytest.fixture(scope="module")
def originals():
    return {person: face.describe(calibration.photo(person)) for person in calibration.PEOPLE}


@pytest.mark.parametrize(
    ("person", "change"),
    [
        ("astronaut", "head crop"),
        ("astronaut", "mirror"),
        ("astronaut", "grey"),
        ("astronaut", "rotated 15°"),
        ("astronaut", "rotated 90°"),
        ("grace_hopper", "head and shoulders"),
        ("grace_hopper", "off-centre crop"),
        ("grace_hopper", "mirror"),
        ("grace_hopper", "rotated −20°"),
        ("grace_hopper", "half size"),
        ("cameraman", "mirror"),
        ("cameraman", "off-centre crop"),
    ],
)
def test_the_same_person_reframed_is_under_the_drift_threshold(originals, person, change):
    changed = face.describe(calibration.changes(person)[change](calibration.photo(person)))
    assert changed.flag == LikenessFlag.OK
    value = distance(changed.vector, originals[person].vector)
    assert value < FaceMeasure.drift
    assert flag_for(face, value) == LikenessFlag.OK


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(calibration.PEOPLE, 2)))
def test_two_different_people_are_over_the_other_person_threshold(originals, a, b):
    value = distance(originals[a].vector, originals[b].vector)
    assert value > FaceMeasure.other
    assert flag_for(face, value) == LikenessFlag.OTHER_PERSON
    assert score_for(face, value) < 0.5


def test_a_coffee_cup_has_no_face_and_so_no_vector():
    reading = face.describe(calibration.photo("coffee"))
    assert reading.flag == LikenessFlag.NO_FACE
    assert reading.vector is None


def test_a_face_under_64_pixels_is_too_small_not_a_number():
    reading = face.describe(calibration.tiny("astronaut", side=45))
    assert reading.flag == LikenessFlag.TOO_SMALL
    assert reading.vector is None
    assert reading.face_px < MIN_FACE_PX


def test_face_size_is_judged_in_the_stored_pictures_pixels_not_the_working_copy():
    astronaut = calibration.photo("astronaut")  # face ~107 px in 512
    reduced = astronaut[::4, ::4].copy()  # as if a 2048 px working copy of an 8192 px photo
    assert face.describe(reduced).flag == LikenessFlag.TOO_SMALL
    reading = face.describe(reduced, original_side=512)
    assert reading.flag == LikenessFlag.OK


def test_the_rough_measure_tells_colour_and_layout_apart_but_never_names_a_person():
    astronaut = calibration.photo("astronaut")
    same = RoughMeasure().describe(astronaut[:, ::-1].copy())
    base = RoughMeasure().describe(astronaut)
    other = RoughMeasure().describe(calibration.photo("coffee"))
    assert distance(base.vector, same.vector) < RoughMeasure.drift
    assert distance(base.vector, other.vector) > RoughMeasure.drift
    assert flag_for(RoughMeasure, 1.9) == LikenessFlag.DRIFT  # never other_person
    assert np.isclose(np.linalg.norm(base.vector), 1.0, atol=1e-3)
