"""Lot recalls: trace queries, quarantine and release, recall cases and notification exports.

``models`` (RecallCase and its lines), ``services`` (the rules: quarantine, release,
recall cases), ``queries`` (the read side: traces), ``exports`` (Excel and CSV),
``api`` and ``pages`` (thin HTTP layers registered on the app's blueprints).
"""
