"""Environments the agent can work in: the FHIR EHR and small examples."""
