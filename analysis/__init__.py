"""Analysis of 2AFC studies: per-pair statistics, JOD scaling, QC, agreement, metrics, reports.

The facade is :mod:`stylestudy.analysis.api` (``analyze_study``, ``analyze_csv``, ``analyze``); the
modules are pure functions on DataFrames and arrays: ``data`` (the long table or a pwcmp
table), ``pairs``, ``validity`` (what every estimate must satisfy), ``clustered``, ``jod``,
``scaling`` (JOD and BT per connected component), ``bt``, ``qc``, ``agreement``, ``power``,
``ssim``, ``lpips``, ``metrics``, ``metric_agreement``; ``pipeline``, ``html``, ``figures``,
``latex`` and ``report`` build the report.
"""
