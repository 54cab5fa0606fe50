"""The catalog: components and their options (layers), trophies built of
ordered tiers of ordered slots, and builds."""
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

FORMATS = [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WebP")]
MIN_CANVAS, MAX_CANVAS = 16, 4000


class Component(models.Model):
    """A kind of part (Base, Figure, Plate...)."""

    key = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


def layer_upload_to(option, filename):
    return f"layers/{option.component.key}/{option.key}-{option.layer_digest[:12]}.png"


class Option(models.Model):
    """One choice of a component, drawn as an RGBA layer image."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="options")
    key = models.SlugField(max_length=50)
    label = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    layer = models.ImageField(upload_to=layer_upload_to, max_length=255)
    # sha256 of the decoded RGBA pixels: part of every image fingerprint.
    layer_digest = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["component", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["component", "key"], name="unique_option_key")]

    def __str__(self):
        return f"{self.component.name}: {self.label}"


class Trophy(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    width = models.PositiveIntegerField(
        default=400, validators=[MinValueValidator(MIN_CANVAS), MaxValueValidator(MAX_CANVAS)]
    )
    height = models.PositiveIntegerField(
        default=500, validators=[MinValueValidator(MIN_CANVAS), MaxValueValidator(MAX_CANVAS)]
    )
    format = models.CharField(max_length=4, choices=FORMATS, default="JPEG")
    # Shoppers see only published trophies; a new one is a draft that staff
    # preview until they publish it (services/publishing.py).
    published = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "trophies"
        permissions = [("publish_trophy", "Can publish and unpublish trophies")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return f"/t/{self.slug}/"

    def ordered_slots(self):
        """Slots in compositing order: bottom tier first, then slot order.
        (What a build or a page renders is read through services.plans.)"""
        return list(
            Slot.objects.filter(tier__trophy=self)
            .select_related("component", "tier")
            .prefetch_related("options")
            .order_by("tier__position", "tier_id", "position", "id")
        )


class Tier(models.Model):
    trophy = models.ForeignKey(Trophy, on_delete=models.CASCADE, related_name="tiers")
    name = models.CharField(max_length=100, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["trophy", "position", "id"]

    def __str__(self):
        return self.name or f"Tier {self.position + 1}"


class Slot(models.Model):
    """One component of a tier, with the options allowed there and where the
    layer is placed on the canvas."""

    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="slots")
    key = models.SlugField(max_length=50, help_text="Name of the choice in URLs; unique in the trophy.")
    component = models.ForeignKey(Component, on_delete=models.PROTECT, related_name="slots")
    options = models.ManyToManyField(Option, related_name="slots")
    position = models.PositiveIntegerField(default=0)
    x = models.IntegerField(default=0)
    y = models.IntegerField(default=0)

    class Meta:
        ordering = ["tier", "position", "id"]

    def __str__(self):
        return f"{self.key} ({self.component})"

    def allowed_options(self):
        # Sorted in Python so a prefetch_related("options") is reused.
        return sorted(self.options.all(), key=lambda o: (o.position, o.id))


class Build(models.Model):
    """One run that renders every combination of a trophy."""

    QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
    STATES = [(s, s) for s in (QUEUED, RUNNING, DONE, FAILED, CANCELLED)]
    ACTIVE = (QUEUED, RUNNING)

    trophy = models.ForeignKey(Trophy, on_delete=models.CASCADE, related_name="builds")
    state = models.CharField(max_length=10, choices=STATES, default=QUEUED, db_index=True)
    total = models.PositiveBigIntegerField()
    chunk_size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    error = models.TextField(blank=True)
    # Final counts, copied from the Redis counters when the build settles,
    # so a finished build keeps its figures when Redis does not.
    rendered = models.PositiveBigIntegerField(null=True, blank=True)
    skipped = models.PositiveBigIntegerField(null=True, blank=True)
    failed = models.PositiveBigIntegerField(null=True, blank=True)
    # Figures of the settled run (services/build_history.py), compared with
    # later runs of the trophy: wall time, and rendered images per second
    # (skipped ones cost almost nothing, so they would flatter the rate).
    duration_s = models.FloatField(null=True, blank=True)
    render_rate_per_s = models.FloatField(null=True, blank=True)
    # The trophy as it was when the build started (services.plans.Plan): what
    # every chunk renders, whatever is edited meanwhile.
    plan = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("start_build", "Can start builds"),
            ("cancel_build", "Can cancel builds"),
            ("retry_build", "Can retry the failed chunks of builds"),
        ]

    def __str__(self):
        return f"Build {self.pk} of {self.trophy}"

    @property
    def is_active(self):
        return self.state in self.ACTIVE


class Chunk(models.Model):
    """A range [start, stop) of a build's combination indexes: one RQ job."""

    QUEUED, RUNNING, DONE, FAILED, CANCELLED = Build.QUEUED, Build.RUNNING, Build.DONE, Build.FAILED, Build.CANCELLED

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    start = models.PositiveBigIntegerField()
    stop = models.PositiveBigIntegerField()
    state = models.CharField(max_length=10, choices=Build.STATES, default=QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    job_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["build", "number"]
        constraints = [models.UniqueConstraint(fields=["build", "number"], name="unique_chunk_number")]

    def __str__(self):
        return f"chunk {self.number} [{self.start}, {self.stop}) of build {self.build_id}"
