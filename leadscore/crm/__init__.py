"""The CRM data layer: simulated CRM, export readers (files, SQL) and the mapping onto canonical columns."""
