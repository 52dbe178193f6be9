"""Exchange formats: NIR export and import (:mod:`spikeforge.export.nir`, needs the ``nir`` extra)."""

from .nir import NIRConversionError, NIRNetwork, export_nir, import_nir

__all__ = ["NIRConversionError", "NIRNetwork", "export_nir", "import_nir"]
