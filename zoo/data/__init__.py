"""Datasets of the zoo: generated dates and scenes, text and image loaders."""

from zoo.data.captions import CaptionedImage
from zoo.data.captions import ImageFeatures
from zoo.data.captions import filter_by_features
from zoo.data.captions import load_caption_data
from zoo.data.captions import load_coco
from zoo.data.captions import load_features
from zoo.data.captions import load_flickr
from zoo.data.captions import load_karpathy
from zoo.data.captions import split_images
from zoo.data.dates import DATE_FORMATS
from zoo.data.dates import ISO_FIELD_SPANS
from zoo.data.dates import date_links
from zoo.data.dates import format_date
from zoo.data.dates import generate_dates
from zoo.data.dates import load_dates
from zoo.data.scenes import SceneObject
from zoo.data.scenes import Scenes
from zoo.data.scenes import box_to_grid_mask
from zoo.data.scenes import generate_scenes
from zoo.data.scenes import load_scenes
from zoo.data.splits import split_pairs
from zoo.data.translation import load_parallel_files
from zoo.data.translation import load_tab_separated
from zoo.data.translation import load_translation_data

__all__ = [
    "CaptionedImage",
    "DATE_FORMATS",
    "ISO_FIELD_SPANS",
    "ImageFeatures",
    "SceneObject",
    "Scenes",
    "box_to_grid_mask",
    "date_links",
    "filter_by_features",
    "format_date",
    "generate_dates",
    "generate_scenes",
    "load_caption_data",
    "load_coco",
    "load_dates",
    "load_features",
    "load_flickr",
    "load_karpathy",
    "load_parallel_files",
    "load_scenes",
    "load_tab_separated",
    "load_translation_data",
    "split_images",
    "split_pairs",
]
