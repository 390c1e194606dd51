"""De-identified statistics of accepted certificates (issue 19, docs/statistics.md).

Takes: a submission Bundle at receipt (:func:`row.statistics_row`), or counts by dimension
(:func:`disclosure.protect`). Gives: one statistics row without personnummer, name, free text or
exact date; tables with small cells suppressed; a MeasureReport; an HTML report.
No IO, no Flask, no database (the use cases store rows and ask the store for counts).
"""
