"""The kernel: errors, typed params, canonical column names, timestamps, URL redaction, logging set-up.

Everything else in leadscore imports from here; nothing here imports anything else of leadscore.
"""
