"""What a trial team takes away: the reliability report of a study (``reliability_report``), ratings aggregated to
units, sessions and dyads with their exports (``aggregation``), client outcomes and covariates (``outcomes``),
and stored process–outcome analyses (``analysis``) with their result files (``analysis_output``)."""
