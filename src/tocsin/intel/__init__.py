"""Threat intelligence shared by the sensors: indicators, feeds, lookalike domains, names.

``indicators`` holds indicators with provenance and expiry and reads the common feed formats;
``lookalike`` generates and recognises lookalikes of protected domains; ``names`` recognises
display-name impersonation; ``lists`` holds the free-mail and URL-shortener lists; ``brands``
the brands phishing pretends to be. Nothing here touches the network.
"""
