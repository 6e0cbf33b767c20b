"""Rating a study: the rater's workspace (queue, blinding, saving; ``workspace``), who rates what
(``designs``), calibration against a master rater, consensus ratings, the coordinator's progress dashboard, and
the scored table of submitted ratings that reliability and analysis start from (``scores``)."""
