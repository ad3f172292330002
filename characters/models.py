"""Characters, their poses and variation specs, every image of them, and the character sheet."""

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from lorastudio.models import TimeStamped

from .trigger_words import validate_trigger_word

# Seed prompts run to a few hundred characters; these bounds refuse pasted documents, not prose.
NAME_MAX_LENGTH = 100
PROMPT_MAX_LENGTH = 2000
CAPTION_MAX_LENGTH = 1000
PROMPT_VALIDATORS = [MaxLengthValidator(PROMPT_MAX_LENGTH)]
STRENGTH_VALIDATORS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))]
IMAGES_PER_VARIATION_VALIDATORS = [MinValueValidator(1), MaxValueValidator(20)]


class Preset(TimeStamped):
    """A starting point for new characters: anchor poses and variation specs (data files)."""

    key = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    base_prompt = models.TextField(blank=True)
    negative_prompt = models.TextField(blank=True)

    class Meta:
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


class PresetPose(models.Model):
    preset = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="poses")
    key = models.SlugField(max_length=50)
    label = models.CharField(max_length=100)
    prompt = models.TextField()
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["preset", "order", "key"]
        constraints = [
            models.UniqueConstraint(fields=["preset", "key"], name="preset_pose_key_unique"),
            models.CheckConstraint(condition=~Q(prompt=""), name="preset_pose_prompt_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.preset.key}/{self.key}"


class PresetVariation(models.Model):
    preset = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="variations")
    key = models.SlugField(max_length=60)
    label = models.CharField(max_length=100)
    prompt = models.TextField()
    anchor_pose = models.ForeignKey(PresetPose, on_delete=models.CASCADE, related_name="+")
    strength = models.DecimalField(max_digits=3, decimal_places=2, validators=STRENGTH_VALIDATORS)
    count = models.PositiveSmallIntegerField(default=4, validators=IMAGES_PER_VARIATION_VALIDATORS)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["preset", "order", "key"]
        constraints = [
            models.UniqueConstraint(fields=["preset", "key"], name="preset_variation_key_unique"),
            models.CheckConstraint(
                condition=Q(strength__gte=0) & Q(strength__lte=1),
                name="preset_variation_strength_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.preset.key}/{self.key}"


class Character(TimeStamped):
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    slug = models.SlugField(max_length=60, unique=True)
    trigger_word = models.CharField(
        max_length=24,
        unique=True,
        validators=[validate_trigger_word],
        help_text="The token that calls the character up: short, lowercase, not a common word.",
    )
    base_prompt = models.TextField(
        max_length=PROMPT_MAX_LENGTH,
        validators=PROMPT_VALIDATORS,
        help_text="Describes the character; every generation starts from it.",
    )
    negative_prompt = models.TextField(
        blank=True, max_length=PROMPT_MAX_LENGTH, validators=PROMPT_VALIDATORS
    )
    preset = models.ForeignKey(
        Preset, null=True, blank=True, on_delete=models.SET_NULL, related_name="characters"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(base_prompt=""), name="character_prompt_not_empty"),
            models.CheckConstraint(
                condition=Q(trigger_word__regex=r"^[a-z][a-z0-9_]{2,23}$"),
                name="character_trigger_word_format",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("characters:detail", kwargs={"slug": self.slug})


class Pose(models.Model):
    """An anchor pose of a character; its picked candidate is the character's Anchor."""

    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="poses")
    key = models.SlugField(max_length=50)
    label = models.CharField(max_length=100)
    prompt = models.TextField(max_length=PROMPT_MAX_LENGTH, validators=PROMPT_VALIDATORS)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["character", "order", "key"]
        constraints = [
            models.UniqueConstraint(fields=["character", "key"], name="pose_key_unique"),
            models.CheckConstraint(condition=~Q(prompt=""), name="pose_prompt_not_empty"),
        ]

    def __str__(self) -> str:
        return self.label


class Variation(TimeStamped):
    """An edit spec: image-to-image from the anchor of `anchor_pose` with `strength`."""

    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="variations")
    key = models.SlugField(max_length=60)
    label = models.CharField(max_length=100)
    prompt = models.TextField(max_length=PROMPT_MAX_LENGTH, validators=PROMPT_VALIDATORS)
    anchor_pose = models.ForeignKey(Pose, on_delete=models.RESTRICT, related_name="variations")
    strength = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        validators=STRENGTH_VALIDATORS,
        help_text="0.3–0.4 minor, 0.5–0.55 moderate, 0.6–0.7 significant; 0.8+ risks drift.",
    )
    count = models.PositiveSmallIntegerField(
        default=4, validators=IMAGES_PER_VARIATION_VALIDATORS, help_text="Images per generation."
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["character", "order", "key"]
        constraints = [
            models.UniqueConstraint(fields=["character", "key"], name="variation_key_unique"),
            models.CheckConstraint(
                condition=Q(strength__gte=0) & Q(strength__lte=1), name="variation_strength_0_1"
            ),
            models.CheckConstraint(
                condition=Q(count__gte=1) & Q(count__lte=20), name="variation_count_1_20"
            ),
            models.CheckConstraint(condition=~Q(prompt=""), name="variation_prompt_not_empty"),
        ]

    def __str__(self) -> str:
        return self.label


class ShotType(models.TextChoices):
    """Seed 002: by face size, close > 25% of the image, mid 8–25%, far < 8%."""

    CLOSE = "close", "Close"
    MID = "mid", "Mid"
    FAR = "far", "Far"
    UNKNOWN = "unknown", "Unknown"


class ShotSource(models.TextChoices):
    """Where an image's shot type came from, shown beside it."""

    NONE = "", "Not set"
    DETECTED = "detected", "Detected (face size)"
    PROMPT = "prompt", "From the prompt or pose"
    HAND = "hand", "Set by hand"


class Image(TimeStamped):
    """Every picture of a character: candidates, variations, uploads and reference images."""

    class Kind(models.TextChoices):
        CANDIDATE = "candidate", "Anchor candidate"
        VARIATION = "variation", "Variation"
        UPLOAD = "upload", "Upload"
        REFERENCE = "reference", "Reference"

    class Review(models.TextChoices):
        UNREVIEWED = "unreviewed", "Unreviewed"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="images")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    file = models.ImageField(upload_to="images/%Y/%m/", width_field="width", height_field="height")
    thumbnail = models.ImageField(upload_to="thumbs/%Y/%m/", blank=True)
    width = models.PositiveIntegerField(null=True, editable=False)
    height = models.PositiveIntegerField(null=True, editable=False)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    phash = models.CharField(
        max_length=16, blank=True, help_text="Perceptual hash (hex), for near duplicates."
    )
    size_bytes = models.PositiveBigIntegerField(default=0)
    shot_type = models.CharField(max_length=8, choices=ShotType.choices, default=ShotType.UNKNOWN)
    shot_source = models.CharField(
        max_length=10, choices=ShotSource.choices, default=ShotSource.NONE, blank=True
    )
    face_ratio = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Largest face's area over the image's area, when a face was found.",
    )
    warnings = models.JSONField(
        default=list, blank=True, help_text="What ingest noticed: small, blurry, near duplicate."
    )
    # A candidate is made for its pose: it goes with it (dataset items still protect it).
    pose = models.ForeignKey(
        Pose, null=True, blank=True, on_delete=models.CASCADE, related_name="images"
    )
    variation = models.ForeignKey(
        Variation, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    source_image = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="derived",
        help_text="The anchor this image was edited from.",
    )
    call = models.ForeignKey(
        "generation.ProviderCall",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="images",
        help_text="The provider call that produced it.",
    )
    call_output = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Which output of its call this image is."
    )
    prompt = models.TextField(blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    strength = models.DecimalField(
        max_digits=3, decimal_places=2, null=True, blank=True, validators=STRENGTH_VALIDATORS
    )
    original_filename = models.CharField(max_length=255, blank=True)
    review = models.CharField(max_length=12, choices=Review.choices, default=Review.UNREVIEWED)
    starred = models.BooleanField(default=False)
    caption = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The gallery's likeness sorts walk an index on it; an index cannot reach into another
    # table. Shown scores come from the LikenessScore rows, always.
    likeness_sort_key = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text="A copy of the primary likeness score, to sort by (null while there is none): "
        "written only by characters.likeness.scoring, with the scores.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The gallery's filters, and its counts read from the index alone (pose and id
            # carried along), not from 20,000 wide rows.
            models.Index(
                fields=["character", "kind", "review"],
                include=["pose", "id"],
                name="image_gallery_idx",
            ),
            # The curation counts: one walk down this index, grouped as it is sorted (2 ms for
            # 20,000 images against 10 ms through the one above, which needed a hash by pose).
            models.Index(
                fields=["character", "pose", "review", "kind"], name="image_curation_counts_idx"
            ),
            # The gallery's usual order (Meta.ordering): a page is a walk down this index.
            models.Index(
                fields=["character", "-created_at", "-id"], name="image_gallery_order_idx"
            ),
            # By pose, by variation spec: a page is cut group by group (the pose's or spec's
            # order), each group a walk down one of these in the usual order.
            models.Index(
                fields=["character", "pose", "-created_at", "-id"], name="image_pose_order_idx"
            ),
            models.Index(
                fields=["character", "variation", "-created_at", "-id"],
                name="image_variation_order_idx",
            ),
            # Least alike first and most alike first, unmeasured last in both.
            models.Index(
                F("character"),
                F("likeness_sort_key").asc(nulls_last=True),
                F("created_at").desc(),
                F("id").desc(),
                name="image_least_alike_idx",
            ),
            models.Index(
                F("character"),
                F("likeness_sort_key").desc(nulls_last=True),
                F("created_at").desc(),
                F("id").desc(),
                name="image_most_alike_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(strength__isnull=True) | (Q(strength__gte=0) & Q(strength__lte=1)),
                name="image_strength_0_1",
            ),
            models.CheckConstraint(
                condition=~Q(kind="candidate") | Q(pose__isnull=False),
                name="image_candidate_has_pose",
            ),
            models.UniqueConstraint(
                fields=["call", "call_output"],
                condition=Q(call__isnull=False),
                name="image_one_per_call_output",
            ),
            models.CheckConstraint(
                condition=Q(face_ratio__isnull=True)
                | (Q(face_ratio__gte=0) & Q(face_ratio__lte=1)),
                name="image_face_ratio_0_1",
            ),
            models.UniqueConstraint(
                fields=["character", "sha256"],
                condition=Q(kind="upload") & ~Q(sha256=""),
                name="image_upload_unique_per_character",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} of {self.character}"

    @property
    def thumbnail_url(self) -> str:
        """The small picture for grids (the original until a thumbnail exists)."""
        return (self.thumbnail or self.file).url


class Anchor(TimeStamped):
    """The picked image for one pose of a character: together they are the character sheet."""

    character = models.ForeignKey(Character, on_delete=models.CASCADE, related_name="anchors")
    pose = models.ForeignKey(Pose, on_delete=models.CASCADE, related_name="anchors")
    image = models.ForeignKey(Image, on_delete=models.RESTRICT, related_name="anchor_for")
    picked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["character", "pose__order"]
        constraints = [
            models.UniqueConstraint(fields=["character", "pose"], name="anchor_one_per_pose"),
        ]

    def __str__(self) -> str:
        return f"{self.character} · {self.pose}"


# --- Likeness: vectors and scores (characters.likeness computes them, in the worker) -------
class Measure(models.TextChoices):
    """How likeness is measured. Scores of different measures are never compared."""

    FACE = "face", "Face identity"
    FIGURE = "figure", "Whole figure"
    ROUGH = "rough", "Rough (colour and shape)"


class LikenessFlag(models.TextChoices):
    OK = "ok", "OK"
    DRIFT = "drift", "Drift"
    OTHER_PERSON = "other_person", "Other person?"
    NO_FACE = "no_face", "No face"
    TOO_SMALL = "too_small", "Face too small"


class ImageEmbedding(TimeStamped):
    """One measure's vector of one image (or why it has none: no face, face too small).

    Vectors are a Postgres float array: pgvector is not in Debian bookworm's archive (the
    CI image's and the compose image's base), and references are a handful of vectors per
    character, compared in numpy (docs/likeness.md)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="embeddings")
    measure = models.CharField(max_length=8, choices=Measure.choices)
    model = models.CharField(max_length=120)
    flag = models.CharField(max_length=12, choices=LikenessFlag.choices)
    vector = ArrayField(models.FloatField(), null=True, blank=True)
    face_px = models.PositiveIntegerField(
        null=True, blank=True, help_text="Side of the face box, in the picture's pixels."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "measure"], name="embedding_one_per_measure"),
            models.CheckConstraint(
                condition=Q(flag="ok", vector__isnull=False)
                | (~Q(flag="ok") & Q(vector__isnull=True)),
                name="embedding_vector_iff_ok",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.measure} of image #{self.image_id}"


class LikenessScore(TimeStamped):
    """How alike one image is to one reference of its character, by one measure and model.

    `reference` says what it was compared with: `sheet` (the picked anchors), `anchor:<pose>`,
    `pin:<version>`, or `consensus` (the character's largest group of alike images, while
    there is no sheet). The `primary` row is the one the image shows."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="likeness_scores")
    measure = models.CharField(max_length=8, choices=Measure.choices)
    model = models.CharField(max_length=120)
    reference = models.CharField(max_length=80)
    reference_key = models.CharField(
        max_length=40, help_text="Digest of the reference's images and model, to spot a stale row."
    )
    distance = models.FloatField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    flag = models.CharField(max_length=12, choices=LikenessFlag.choices)
    primary = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["reference_key"], name="likeness_reference_key_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "measure", "reference"], name="likeness_one_per_reference"
            ),
            models.UniqueConstraint(
                fields=["image"], condition=Q(primary=True), name="likeness_one_primary"
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | (Q(score__gte=0) & Q(score__lte=1)),
                name="likeness_score_0_1",
            ),
            models.CheckConstraint(
                condition=Q(distance__isnull=True) | Q(distance__gte=0),
                name="likeness_distance_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.measure} likeness of image #{self.image_id} to {self.reference}"
