"""Fixtrail's data layer, by stage (docs/ARCHITECTURE.md): core -> text -> ingest -> annotations -> store ->
analysis -> outputs, each importing only the stages before it; demo beside, out of the product's path."""
