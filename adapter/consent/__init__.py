"""Consent: may this certificate be disclosed to this socialnämnd now?

Takes: a certificate summary, the patient's Consent resources, and the time.
Gives: a decision (permit / deny / no-consent) with its reason and the consent it rests on.
No IO, no Flask, no database.
"""
