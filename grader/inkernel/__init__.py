"""The code that runs where the learner's function runs: in the submission's kernel (hostile).

`harness` calls the learner's function on each case and prints one reply; `adapters` are the
functions that call it for tasks whose arguments are not plain data. Both are also what
`check()` runs in the learner's own notebook. They import only the standard library, numpy
and `grader.wire` (tests/test_grader_units.py holds them to it), and they only *produce*
outcomes: every verdict is reached in the grader's process, which trusts nothing printed here.
"""
