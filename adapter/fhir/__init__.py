"""FHIR data handling: the conformance registry, parsing (JSON and XML), the package builder.

Takes: FHIR resources as parsed JSON (dicts), files, folders and packages.
Gives: resolved definitions (Questionnaire, StructureDefinition, ValueSet, ...) by canonical URL.
No IO beyond reading definition files; no Flask, no database.
"""
