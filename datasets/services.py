"""Everything that changes datasets and their items: build, add, caption edits, replace."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from characters.models import CAPTION_MAX_LENGTH, Anchor, Character, Image, ShotSource, ShotType
from lorastudio.errors import Conflict, Refusal

from . import captions
from .concepts import current_taxonomy
from .models import Dataset, DatasetItem

KIND_ORDER = {
    Image.Kind.CANDIDATE: 0,
    Image.Kind.VARIATION: 1,
    Image.Kind.UPLOAD: 2,
    Image.Kind.REFERENCE: 3,
}


class DatasetRefused(Refusal):
    """A dataset change that breaks a rule; the message says what to do."""


class DatasetConflict(Conflict):
    """A dataset change that the current state forbids (a name taken...)."""


def starting_images(character: Character) -> list[Image]:
    """What a new dataset starts with: the approved images (uploads too: like generated ones,
    they enter a dataset once a person approved them) and every anchor. Anchors first, then
    by pose, then uploads."""
    anchors = set(Anchor.objects.filter(character=character).values_list("image_id", flat=True))
    images = (
        Image.objects.filter(character=character)
        .filter(Q(review=Image.Review.APPROVED) | Q(id__in=anchors))
        .select_related("pose")
    )
    return sorted(
        images,
        key=lambda i: (
            i.id not in anchors,
            KIND_ORDER.get(i.kind, 9),
            i.pose.order if i.pose_id else 99,
            i.created_at,
            i.id,
        ),
    )


def _initial_captions(
    character: Character, images: list[Image], *, alongside: list[str] = ()
) -> dict[int, str]:
    """A caption for each image: its own if it has one, else one from its prompt.

    What counts as boilerplate is read from every generated prompt of the dataset
    (`alongside`: those of the images already in it), so images added later are captioned
    as they would have been at creation; a batch of one gap run, whose prompts are all the
    same, would otherwise lose its whole prompt as “shared by every image”."""
    prompts = [i.prompt for i in images if i.prompt and i.kind != Image.Kind.UPLOAD]
    prompts += list(alongside)
    boilerplate = captions.shared_boilerplate(prompts, base_prompt=character.base_prompt)
    result = {}
    for image in images:
        if image.caption.strip():
            result[image.id] = image.caption.strip()
        elif image.prompt:
            result[image.id] = captions.caption_from_prompt(
                image.prompt, boilerplate=boilerplate, trigger=character.trigger_word
            )
        else:
            result[image.id] = ""
    return result


def _new_items(dataset: Dataset, images: list[Image], start: int) -> list[DatasetItem]:
    taxonomy = current_taxonomy()
    alongside = list(
        dataset.items.exclude(image__kind=Image.Kind.UPLOAD)
        .exclude(image__prompt="")
        .values_list("image__prompt", flat=True)
    )
    texts = _initial_captions(dataset.character, images, alongside=alongside)
    return [
        DatasetItem(
            dataset=dataset,
            image=image,
            caption=texts[image.id],
            concepts=taxonomy.extract(texts[image.id]),
            order=start + n,
        )
        for n, image in enumerate(images)
    ]


def default_dataset_name(character: Character) -> str:
    """“Fit set 3”: the first free name of that shape (a new dataset needs no typing)."""
    taken = set(Dataset.objects.filter(character=character).values_list("name", flat=True))
    n = len(taken) + 1
    while f"{character.name} set {n}"[:100] in taken:
        n += 1
    return f"{character.name} set {n}"[:100]


@transaction.atomic
def create_dataset(
    *,
    character: Character,
    name: str | None = None,
    created_by: AbstractBaseUser | None = None,
    caption_template: str | None = None,
    notes: str = "",
    image_ids: list[int] | None = None,
) -> Dataset:
    """A new dataset of the character, holding its approved images and anchors (or exactly
    `image_ids`, images of the character, e.g. the photos of one folder). Without a name it
    gets the next “<character> set N”."""
    name = (name or "").strip() or default_dataset_name(character)
    if len(name) > 100:
        raise DatasetRefused("A dataset name has at most 100 characters.")
    if Dataset.objects.filter(character=character, name=name).exists():
        raise DatasetConflict(f"{character} already has a dataset named “{name}”: pick another.")
    dataset = Dataset(character=character, name=name, notes=notes, created_by=created_by)
    if caption_template is not None:
        dataset.caption_template = captions.check_template(caption_template)
    try:
        with transaction.atomic():
            dataset.save()
    except IntegrityError as exc:
        raise DatasetConflict(f"A dataset named “{name}” was just made: pick another.") from exc
    if image_ids is None:
        images = starting_images(character)
    else:
        wanted = list(dict.fromkeys(image_ids))
        found = {
            i.id: i
            for i in Image.objects.filter(character=character, id__in=wanted).select_related("pose")
        }
        if len(found) != len(wanted):
            raise DatasetRefused(f"Some of these images are not pictures of {character}.")
        images = [found[i] for i in wanted]
    DatasetItem.objects.bulk_create(_new_items(dataset, images, 0))
    return dataset


@transaction.atomic
def add_images(*, dataset: Dataset, image_ids: list[int]) -> int:
    """Add images of the dataset's character; ones already in it are skipped. Returns how
    many were added."""
    ids = list(dict.fromkeys(int(i) for i in image_ids))
    if not ids:
        raise DatasetRefused("Choose at least one image to add.")
    images = list(
        Image.objects.filter(character_id=dataset.character_id, id__in=ids).select_related("pose")
    )
    missing = sorted(set(ids) - {i.id for i in images})
    if missing:
        raise DatasetRefused(
            f"Image {', '.join(f'#{i}' for i in missing)} is not a picture of "
            f"{dataset.character}: nothing was added."
        )
    present = set(dataset.items.values_list("image_id", flat=True))
    fresh = [i for i in images if i.id not in present]
    start = (dataset.items.aggregate(top=Max("order"))["top"] or 0) + 1
    DatasetItem.objects.bulk_create(_new_items(dataset, fresh, start))
    return len(fresh)


@transaction.atomic
def update_dataset(
    *,
    dataset: Dataset,
    name: str | None = None,
    notes: str | None = None,
    caption_template: str | None = None,
) -> Dataset:
    """Rename a dataset, change its notes or its caption template."""
    if name is not None:
        name = name.strip()
        if not name:
            raise DatasetRefused("Give the dataset a name.")
        taken = Dataset.objects.filter(character_id=dataset.character_id, name=name)
        if taken.exclude(id=dataset.id).exists():
            raise DatasetConflict(f"Another dataset is named “{name}”: pick another.")
        dataset.name = name
    if notes is not None:
        dataset.notes = notes
    if caption_template is not None:
        dataset.caption_template = captions.check_template(caption_template)
    dataset.save()
    return dataset


@transaction.atomic
def update_item(
    *,
    item: DatasetItem,
    caption: str | None = None,
    included: bool | None = None,
    shot_type: str | None = None,
) -> DatasetItem:
    """Edit an item's caption, include or exclude it, or set its image's shot type by hand.

    The shot type belongs to the image (one truth for every dataset and the gallery); a hand
    setting is marked as such and detection never overwrites it.
    """
    if shot_type is not None:
        if shot_type not in ShotType.values:
            raise DatasetRefused(f"Use a shot type of {', '.join(ShotType.values)}.")
        Image.objects.filter(id=item.image_id).update(
            shot_type=shot_type, shot_source=ShotSource.HAND
        )
        item.image.refresh_from_db(fields=["shot_type", "shot_source", "face_ratio"])
    if caption is not None:
        item.caption = _checked_caption(caption)
        item.concepts = current_taxonomy().extract(item.caption)
    if included is not None:
        item.included = included
    item.save()
    return item


def _checked_caption(caption: str) -> str:
    """A caption on one line, refused past the length an image's caption may have."""
    caption = captions.plain_text(caption)
    if len(caption) > CAPTION_MAX_LENGTH:
        raise DatasetRefused(
            f"A caption has at most {CAPTION_MAX_LENGTH} characters ({len(caption)} given).",
            extra={"field": "caption"},
        )
    return caption


@transaction.atomic
def set_included(*, dataset: Dataset, item_ids: list[int], included: bool) -> list[DatasetItem]:
    """Include or exclude many items of the dataset at once; returns the items changed."""
    items = list(
        dataset.items.select_for_update()
        .filter(id__in=[int(i) for i in item_ids])
        .exclude(included=included)
    )
    for item in items:
        item.included = included
    DatasetItem.objects.bulk_update(items, ["included", "updated_at"])
    return items


@transaction.atomic
def exclude_shots(*, dataset: Dataset, shot: str, count: int) -> list[DatasetItem]:
    """A balance plan's step: leave out `count` included images of a shot type, the ones a
    set misses least first (not anchors, not starred, generated before uploads, the most
    recently added first). Each can be included again with its toggle."""
    if shot not in ShotType.values or count < 1:
        raise DatasetRefused("Say which shot type to leave out, and how many.")
    anchors = Anchor.objects.filter(character_id=dataset.character_id).values("image_id")
    candidates = list(
        dataset.items.select_for_update(of=("self",))
        .filter(included=True, image__shot_type=shot)
        .select_related("image")
    )
    anchor_ids = {row["image_id"] for row in anchors}
    candidates.sort(
        key=lambda i: (
            i.image_id in anchor_ids,
            i.image.starred,
            i.image.kind == Image.Kind.UPLOAD,
            -i.order,
        )
    )
    chosen = candidates[:count]
    for item in chosen:
        item.included = False
    DatasetItem.objects.bulk_update(chosen, ["included", "updated_at"])
    return chosen


@transaction.atomic
def exclude_items(*, dataset: Dataset, item_ids: list[int]) -> int:
    """Leave these items of `dataset` out of the training set (they stay listed, ready to be
    included again); ids of other datasets are ignored. How many were excluded."""
    return dataset.items.filter(id__in=item_ids, included=True).update(
        included=False, updated_at=timezone.now()
    )


def find_and_replace(
    *, dataset: Dataset, find: str, replace: str, match_case: bool = True, apply: bool = False
) -> list[captions.Replacement]:
    """Every caption of the dataset that `find` changes, before and after. With `apply`,
    the captions are saved (in one transaction); without, nothing changes (the preview)."""
    if not find:
        raise DatasetRefused("Type the text to find.")
    taxonomy = current_taxonomy()
    changes = []
    with transaction.atomic():
        items = dataset.items.select_for_update() if apply else dataset.items.all()
        for item in items.order_by("order", "id"):
            after, n = captions.replace_in(item.caption, find, replace, match_case=match_case)
            after = " ".join(after.split())
            if not n:
                continue
            if len(after) > CAPTION_MAX_LENGTH:
                raise DatasetRefused(
                    f"Replacing would make image #{item.image_id}'s caption longer than "
                    f"{CAPTION_MAX_LENGTH} characters: replace with something shorter.",
                    extra={"field": "replace"},
                )
            changes.append(captions.Replacement(item.id, item.caption, after, n))
            if apply:
                item.caption, item.concepts = after, taxonomy.extract(after)
                item.save(update_fields=["caption", "concepts", "updated_at"])
    return changes


@transaction.atomic
def refresh_concepts(*, dataset: Dataset) -> int:
    """Extract every item's concepts again (after the taxonomy changed)."""
    taxonomy = current_taxonomy()
    items = list(dataset.items.all())
    for item in items:
        item.concepts = taxonomy.extract(item.caption)
    DatasetItem.objects.bulk_update(items, ["concepts"])
    return len(items)
