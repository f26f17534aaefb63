"""Data discovery: find personal data and secrets in files, repositories, databases and the lake.

``rules`` (rule files, ours and gitleaks'), ``validators`` (checksums, entropy), ``engine`` (the
keyword-gated scanner), ``findings`` (masked values, hashes, fingerprints).
"""
