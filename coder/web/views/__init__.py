"""The app's pages, one blueprint per kind of page; each view parses the request, calls the services, commits or
rolls back, and renders.

- ``auth``: log in and out;
- ``home``: the start page (a coordinator's studies, a rater's queue);
- ``rate``: the rater's workspace (the rating page, its audio, autosave and submit);
- coordinators: ``studies`` (new study, the study page, coordinators, participants), ``recordings`` (uploads,
  manifests, processing), ``transcripts``, ``units``, ``designs`` (assignments), ``raters``, ``dashboard``,
  ``calibration``, ``consensus``, ``ratings``, ``audit`` (the audit trail), ``reliability`` and ``analysis``.
"""
