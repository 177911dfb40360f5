"""Helpers for the course's notebooks: what is not the lesson (plot style, data, tooling).

The formulas a chapter teaches stay in the chapter. This package holds only the plumbing:
`course.style` (one palette, labelled axes), `course.data` (the bundled digits, split the same
way everywhere), `course.setup` (thread pools pinned, so that every machine computes the same
numbers) and `course.execute` (re-executing notebooks after an edit).
"""
