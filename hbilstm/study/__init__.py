"""The depth study: sweeps of training runs, and the report built from them.

* ``sweep``   plan and run every combination of some options, each an ordinary run directory;
* ``collect`` read the runs of a sweep folder back;
* ``stats``   means over seeds, paired tests, findings;
* ``plots``   the report's figures;
* ``render``  results.csv, report.md, report.html;
* ``report``  ``build_report()``: all of the above for one sweep folder.
"""
