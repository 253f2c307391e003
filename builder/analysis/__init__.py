"""Whole-graph analysis in pure Python: shapes, parameters, FLOPs, activation
memory, receptive fields and diagnostics that spell out the arithmetic."""

from builder.analysis.analyzer import Analysis, Analyzer, Totals, analyze
from builder.analysis.diagnostics import ERROR, WARNING, Diagnostic
from builder.analysis.node_info import GLOBAL, NodeInfo

__all__ = ["Analysis", "Analyzer", "Diagnostic", "ERROR", "GLOBAL", "NodeInfo", "Totals",
           "WARNING", "analyze"]
