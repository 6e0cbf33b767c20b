"""What the imports of client variables and of ratings share: a file is refused as a whole, with every reason
(they store all of a file or nothing), and the cells they read as missing."""

MISSING = ("", "NA", "N/A", "NaN", ".")  # empty cells and the usual missing-value codes


class FileRefused(ValueError):
    """Nothing in the file was stored; ``problems`` lists every reason, each naming where in the file it is."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{source}: nothing imported; " + "; ".join(problems[:20]) + more)
