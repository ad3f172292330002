"""Reads shared by views and the API: character lists, the sheet, pipeline progress, the
curation gallery and its counts. One module per sub-domain; callers use the names here.

`approval` says once what "approved" means; `listing` holds presets, characters and the
sheet; `pipeline` the seven steps; `likeness` the likeness columns every image list shows;
`gallery_filters` the grid's filters and sorts, `gallery` its pages and tiles; `curation`
the counts against the target.
"""

from .curation import curation_counts, variation_rows
from .gallery import (
    anchor_candidates,
    gallery_images_for_api,
    gallery_page,
    share_of_call,
    tile_row,
)
from .likeness import likeness_of, likeness_scores_by_image, with_likeness
from .listing import (
    character_images,
    character_poses,
    character_sheet,
    character_variations,
    characters,
    characters_for_list,
    characters_with_poses,
    images_with_labels,
    presets_for_form,
    presets_in_full,
    sheet_of_listed,
)
from .pipeline import next_step, pipeline_progress, step_url

__all__ = [
    "anchor_candidates",
    "character_images",
    "character_poses",
    "character_sheet",
    "character_variations",
    "characters",
    "characters_for_list",
    "characters_with_poses",
    "curation_counts",
    "gallery_images_for_api",
    "gallery_page",
    "images_with_labels",
    "likeness_of",
    "likeness_scores_by_image",
    "next_step",
    "pipeline_progress",
    "presets_for_form",
    "presets_in_full",
    "share_of_call",
    "sheet_of_listed",
    "step_url",
    "tile_row",
    "variation_rows",
    "with_likeness",
]
