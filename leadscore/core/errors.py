"""Domain exceptions, translated into exit codes and HTTP statuses at the edges only."""

from __future__ import annotations


class LeadscoreError(Exception):
    """Base class: a problem the user can fix, reported as one readable line without a traceback."""


class ConfigError(LeadscoreError):
    """params.yaml or a setting is invalid."""


class SourceError(LeadscoreError):
    """The CRM export cannot be read or mapped (missing file, missing mapped column, bad SQL)."""


class DataValidationError(LeadscoreError):
    """The export failed the validation gate; training must not start."""


class LeakageError(DataValidationError):
    """Columns look like they encode the outcome and were not explicitly allowed."""


class SchemaError(LeadscoreError):
    """Leads handed to a scoring bundle do not match its feature spec."""


class ModelQualityError(LeadscoreError):
    """The trained model misses the quality thresholds in params.yaml."""


class RegistryError(LeadscoreError):
    """The MLflow registry cannot do what was asked (no such model, version or alias)."""
