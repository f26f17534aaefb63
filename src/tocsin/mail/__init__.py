"""Anti-phishing: read emails, explain a verdict, find the campaign, respond (issue 6).

Import as ``tocsin.mail`` (never ``mail``): the stdlib's ``email`` package sits beside it.
"""
