"""Datasets of the zoo: generated dates and parallel-text loaders."""

from zoo.data.dates import DATE_FORMATS
from zoo.data.dates import ISO_FIELD_SPANS
from zoo.data.dates import date_links
from zoo.data.dates import format_date
from zoo.data.dates import generate_dates
from zoo.data.dates import load_dates
from zoo.data.translation import load_parallel_files
from zoo.data.translation import load_tab_separated
from zoo.data.translation import load_translation_data
from zoo.data.translation import split_pairs

__all__ = [
    "DATE_FORMATS",
    "ISO_FIELD_SPANS",
    "date_links",
    "format_date",
    "generate_dates",
    "load_dates",
    "load_parallel_files",
    "load_tab_separated",
    "load_translation_data",
    "split_pairs",
]
