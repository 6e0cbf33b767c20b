"""The study and its data: the model (``models``), which rows belong to which study (``scope``), the audit trail
(``audit``), who may see what (``access``), accounts, the study tree (studies, participants, dyads, sessions;
deletion), recordings in (``ingest`` from a manifest, ``uploads`` from the browser), transcripts' speakers and
roles (``speakers``), rating units (``units``) and rating instruments as data (``instruments``)."""
