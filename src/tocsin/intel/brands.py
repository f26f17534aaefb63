"""The brands phishing most often pretends to be, with the domains they really send from.

Written here from the brands' public sites, for the display-name and lookalike checks: a
message that calls itself "PayPal" from a domain PayPal does not own is the most common
phishing there is. Each entry lists the registrable domains the brand mails and links from
(their mail service providers included where the brand is known to use its own subdomain of
one). An organisation adds its own brands and VIPs in settings; this list only seeds the checks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Brand:
    """A brand: the names it goes by and the domains it owns."""

    name: str
    domains: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    common_word: bool = False
    """The name is also an everyday word (Target, Orange, Chase): only a display name that is
    the brand's name as a whole counts, not one that merely contains the word."""


def _b(name: str, domains: str, aliases: str = "", *, common_word: bool = False) -> Brand:
    return Brand(
        name, tuple(domains.split()), tuple(a for a in aliases.split("|") if a), common_word
    )


BRANDS: tuple[Brand, ...] = (
    _b(
        "Microsoft",
        "microsoft.com microsoftonline.com office.com office365.com outlook.com "
        "live.com hotmail.com sharepoint.com onedrive.com azure.com msn.com windows.com "
        "microsoftstore.com skype.com xbox.com bing.com",
        "Office 365|Microsoft 365|OneDrive|"
        "SharePoint|Outlook|Microsoft Teams|Windows Defender|Azure",
    ),
    _b(
        "Google",
        "google.com gmail.com youtube.com googlemail.com accounts.google.com "
        "googleusercontent.com gstatic.com",
        "Gmail|Google Drive|Google Play|Google Workspace",
    ),
    _b(
        "Apple",
        "apple.com icloud.com me.com mac.com itunes.com",
        "iCloud|Apple ID|App Store",
        common_word=True,
    ),
    _b(
        "Amazon",
        "amazon.com amazon.co.uk amazon.de amazon.fr amazon.es amazon.it amazon.ca "
        "amazon.co.jp amazon.com.br amazon.in amazonses.com amazonaws.com primevideo.com "
        "amazon.nl amazon.com.au",
        "Amazon Prime|Prime Video|AWS|Amazon Web Services",
    ),
    _b("PayPal", "paypal.com paypal.me paypal-communication.com paypalobjects.com"),
    _b("Netflix", "netflix.com nflxext.com nflximg.net"),
    _b("Facebook", "facebook.com facebookmail.com fb.com meta.com fbcdn.net", "Meta"),
    _b("Instagram", "instagram.com facebookmail.com meta.com"),
    _b("WhatsApp", "whatsapp.com whatsapp.net meta.com"),
    _b("LinkedIn", "linkedin.com licdn.com"),
    _b("Twitter", "twitter.com x.com twimg.com t.co"),
    _b("DHL", "dhl.com dhl.de dhl.co.uk dhl.fr dhl.nl dpdhl.com deutschepost.de", "DHL Express"),
    _b("FedEx", "fedex.com"),
    _b("UPS", "ups.com"),
    _b("USPS", "usps.com usps.gov"),
    _b("DPD", "dpd.com dpd.co.uk dpd.de dpd.fr"),
    _b("Royal Mail", "royalmail.com royalmail.co.uk"),
    _b("PostNL", "postnl.nl postnl.com"),
    _b("La Poste", "laposte.fr laposte.net"),
    _b("Correos", "correos.es", common_word=True),
    _b("DocuSign", "docusign.com docusign.net"),
    _b("Adobe", "adobe.com adobesign.com echosign.com", "Adobe Sign|Acrobat"),
    _b("Dropbox", "dropbox.com dropboxmail.com"),
    _b("WeTransfer", "wetransfer.com"),
    _b("Zoom", "zoom.us zoom.com", common_word=True),
    _b("Slack", "slack.com", common_word=True),
    _b("Norton", "norton.com nortonlifelock.com gen.digital", "NortonLifeLock"),
    _b("McAfee", "mcafee.com"),
    _b("Binance", "binance.com"),
    _b("Coinbase", "coinbase.com"),
    _b("Kraken", "kraken.com", common_word=True),
    _b("MetaMask", "metamask.io consensys.io consensys.net"),
    _b("Trust Wallet", "trustwallet.com", "TrustWallet"),
    _b("Ledger", "ledger.com", common_word=True),
    _b("Robinhood", "robinhood.com"),
    _b("Chase", "chase.com jpmorgan.com jpmorganchase.com", "JPMorgan Chase", common_word=True),
    _b("Bank of America", "bankofamerica.com bofa.com"),
    _b("Wells Fargo", "wellsfargo.com wf.com"),
    _b("Citibank", "citi.com citibank.com", "Citi", common_word=True),
    _b("American Express", "americanexpress.com aexp.com", "Amex"),
    _b("Visa", "visa.com", common_word=True),
    _b("Mastercard", "mastercard.com"),
    _b("HSBC", "hsbc.com hsbc.co.uk"),
    _b("Barclays", "barclays.com barclays.co.uk"),
    _b("Santander", "santander.com santander.co.uk santander.com.br"),
    _b("ING", "ing.com ing.nl ing.de"),
    _b("Bradesco", "bradesco.com.br livelo.com.br", "Banco Bradesco"),
    _b("Itau", "itau.com.br", "Itaú"),
    _b("Caixa", "caixa.gov.br", common_word=True),
    _b("Banco do Brasil", "bb.com.br"),
    _b("Sparkasse", "sparkasse.de", common_word=True),
    _b("Deutsche Bank", "deutsche-bank.de db.com"),
    _b("Commerzbank", "commerzbank.de"),
    _b("ADAC", "adac.de"),
    _b("Costco", "costco.com"),
    _b("Walmart", "walmart.com"),
    _b("Target", "target.com", common_word=True),
    _b("eBay", "ebay.com ebay.co.uk ebay.de"),
    _b("Booking.com", "booking.com", "Booking"),
    _b("Airbnb", "airbnb.com"),
    _b("Uber", "uber.com"),
    _b("Spotify", "spotify.com"),
    _b("Disney+", "disneyplus.com disney.com", "Disney Plus"),
    _b("Steam", "steampowered.com steamcommunity.com", "Valve", common_word=True),
    _b("AT&T", "att.com att.net"),
    _b("Verizon", "verizon.com verizonwireless.com"),
    _b("T-Mobile", "t-mobile.com"),
    _b("Vodafone", "vodafone.com vodafone.co.uk vodafone.de"),
    _b("Orange", "orange.fr orange.com", common_word=True),
    _b("Starbucks", "starbucks.com"),
    _b("McDonald's", "mcdonalds.com"),
    _b("Shein", "shein.com sheinemail.com"),
    _b("Temu", "temu.com"),
    _b("AliExpress", "aliexpress.com alibaba.com"),
    _b("IRS", "irs.gov", "Internal Revenue Service"),
    _b("HMRC", "hmrc.gov.uk gov.uk"),
    _b("Stripe", "stripe.com", common_word=True),
    _b("Intuit", "intuit.com quickbooks.com turbotax.com", "QuickBooks|TurboTax"),
    _b("GoDaddy", "godaddy.com"),
    _b("Yahoo", "yahoo.com yahoo.co.uk yahoo.co.jp yahoo-inc.com"),
    _b("AOL", "aol.com"),
    _b("Outlook", "outlook.com microsoft.com live.com hotmail.com office.com", common_word=True),
    _b("OneDrive", "onedrive.com microsoft.com live.com sharepoint.com"),
    _b("SharePoint", "sharepoint.com microsoft.com"),
    _b("Webmail", ""),
)
"""Seed brands; ``Webmail`` has no domain on purpose: no sender may claim to be "Webmail"."""
