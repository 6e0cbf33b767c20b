"""Statistics as pure functions of data frames, no database, no web: inter-rater reliability (``reliability``),
agreement on categories (``agreement``), process–outcome regressions (``regression``), SVG plots (``plots``)
and values made fit for strict JSON (``jsonsafe``). Each statistic's docstring names its formula and the
published example it reproduces."""
