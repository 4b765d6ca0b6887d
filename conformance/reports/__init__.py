"""Reports of judged cases: console progress and summary, JUnit XML, JSON and HTML.

progress = ConsoleProgress(len(cases))          # "[3/27] beta-header-rejected ... FAILED"
...
print(format_summary(results, summarize(results)))
write_junit(results, "report.xml"); write_json(results, "report.json")
write_html(results, "report.html")              # one self-contained file
"""

from .console import ConsoleProgress, format_summary
from .html import html_report, write_html
from .json_report import report_dict, report_json, write_json
from .junit import junit_xml, write_junit

__all__ = [
    "ConsoleProgress",
    "format_summary",
    "html_report",
    "junit_xml",
    "report_dict",
    "report_json",
    "write_html",
    "write_json",
    "write_junit",
]
