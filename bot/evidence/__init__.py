"""Evidence: the complaint pack and the evidence-log export built from the user's logged items."""

from bot.evidence.pack import build_complaint_pack, export_evidence_log

__all__ = ["build_complaint_pack", "export_evidence_log"]
