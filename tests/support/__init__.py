"""What tests, benchmarks (bench/) and scripts (scripts/) share: builders of studies, audio and
servers, and helpers to drive the app. Test modules import from here, never from one another or from
conftest (which keeps the fixtures); bench/ and scripts/ put the repository root on sys.path and import
``tests.support...``.

- paths: where the repository and its sample audio are;
- prerequisites: ``need``, skip locally or fail in CI when a prerequisite is missing;
- network: a free loopback port;
- audio: test signals and excerpts of the demo session written to files;
- tree: the smallest study tree (study, dyad, session, recording, unit, instrument);
- rating_study, analysis_study, reliability_study: studies with transcripts, assignments and ratings;
- cli: the ``coder`` command line run in this process;
- web: logging in through Flask's test client, pages without their CSRF tokens;
- browser: Chromium's arguments and polling a page driven by Playwright;
- faults: ``coder serve`` in a child process and raters autosaving against it.
"""
