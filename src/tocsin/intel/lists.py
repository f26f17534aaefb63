"""Free-mail providers and URL shorteners: two facts about a domain that phishing checks weigh.

A company writing from a free-mail address, or a link that hides its target behind a
shortener, is a weak sign on its own and a strong one beside others. The lists were written
here from the providers' own sites and are deliberately short: the providers people actually
use, not every vanity domain. Sub-domains count (``www.bit.ly`` is bit.ly).
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FREEMAIL: frozenset[str] = _words(
    # Google, Microsoft, Apple, Yahoo, AOL
    "gmail.com googlemail.com "
    "outlook.com outlook.fr outlook.de outlook.es outlook.it outlook.jp outlook.com.br "
    "hotmail.com hotmail.co.uk hotmail.fr hotmail.de hotmail.it hotmail.es hotmail.nl "
    "hotmail.be hotmail.ca hotmail.com.br hotmail.com.ar hotmail.co.jp "
    "live.com live.co.uk live.fr live.de live.it live.nl live.ca live.com.au msn.com "
    "icloud.com me.com mac.com "
    "yahoo.com yahoo.co.uk yahoo.fr yahoo.de yahoo.it yahoo.es yahoo.ca yahoo.co.jp "
    "yahoo.co.in yahoo.com.br yahoo.com.ar yahoo.com.mx yahoo.com.au ymail.com rocketmail.com "
    "aol.com aim.com "
    # privacy-minded and independent providers
    "proton.me protonmail.com protonmail.ch pm.me tutanota.com tutanota.de tuta.io "
    "tutamail.com mailfence.com posteo.de posteo.net disroot.org runbox.com fastmail.com "
    "fastmail.fm hushmail.com zoho.com zohomail.com mail.com email.com usa.com "
    "hey.com duck.com "
    # Germany, Austria, Switzerland
    "gmx.de gmx.net gmx.at gmx.ch gmx.com web.de t-online.de freenet.de arcor.de "
    "mail.de bluewin.ch "
    # France, Italy, Spain, Netherlands, Belgium, Poland, Czechia
    "orange.fr wanadoo.fr free.fr laposte.net sfr.fr libero.it virgilio.it tiscali.it "
    "alice.it terra.es ziggo.nl kpnmail.nl telenet.be skynet.be wp.pl o2.pl onet.pl "
    "interia.pl seznam.cz "
    # United Kingdom, Ireland
    "btinternet.com sky.com virginmedia.com talktalk.net ntlworld.com eircom.net "
    # Russia and neighbours
    "mail.ru inbox.ru list.ru bk.ru yandex.ru yandex.com yandex.by yandex.kz yandex.ua ya.ru "
    "rambler.ru ukr.net "
    # Asia
    "qq.com foxmail.com 163.com 126.com yeah.net sina.com sina.cn sohu.com aliyun.com "
    "139.com naver.com daum.net hanmail.net nate.com rediffmail.com "
    # Americas, Oceania
    "comcast.net verizon.net att.net sbcglobal.net bellsouth.net cox.net charter.net "
    "earthlink.net juno.com optonline.net shaw.ca rogers.com sympatico.ca bigpond.com "
    "optusnet.com.au xtra.co.nz uol.com.br bol.com.br terra.com.br ig.com.br"
)
"""Free-mail domains: anyone can open an address there, so a company name proves nothing."""

URL_SHORTENERS: frozenset[str] = _words(
    # public shorteners and redirectors: anyone can point them anywhere. A brand's own short
    # domain (aka.ms, amzn.to, youtu.be) only leads to that brand and is left out on purpose.
    "bit.ly bitly.com j.mp tinyurl.com t.co goo.gl ow.ly is.gd v.gd buff.ly rebrand.ly "
    "rb.gy cutt.ly t.ly s.id shorturl.at shorturl.com tiny.cc tiny.one tinyurl.hu "
    "bl.ink short.io short.link shorte.st adf.ly bc.vc ouo.io sh.st lnkd.in "
    "qr.ae qrco.de qr.net qrs.ly url.ie urlz.fr x.co trib.al dlvr.it ift.tt hubs.ly hubs.la "
    "zpr.io clck.ru u.to surl.li tinyl.io kutt.it lstu.fr shrtco.de soo.gd 2.gp cli.re "
    "chilp.it snip.ly linktr.ee lnk.bio bit.do t2m.io "
    # IP-logging shorteners: they record who clicked before redirecting
    "2no.co grabify.link iplogger.com"
)
"""Link shorteners and redirectors: the reader cannot see where the link really goes."""


def covered(host: str, table: frozenset[str]) -> bool:
    """Whether the host or one of its parent domains is in ``table``."""
    name = host.strip().lower().rstrip(".")
    if len(name) > 253:
        return False  # not a host name, and the walk below would be quadratic
    start = 0
    # walk the parents with slices: "a.b.bit.ly" -> "b.bit.ly" -> "bit.ly" -> "ly"
    while True:
        if name[start:] in table:
            return True
        dot = name.find(".", start)
        if dot < 0:
            return False
        start = dot + 1


def is_freemail(domain: str) -> bool:
    """Whether the domain (or a parent of it) is a free-mail provider."""
    return covered(domain, FREEMAIL)


def is_shortener(host: str) -> bool:
    """Whether the host (or a parent of it, ``www.bit.ly``) is a URL shortener."""
    return covered(host, URL_SHORTENERS)


INFRASTRUCTURE: frozenset[str] = _words(
    # Content delivery and cloud edges: random-looking host names and many subdomains are how
    # they name customers, objects and edge nodes, not how malware talks.
    "akamai.net akamaiedge.net akamaihd.net akamaized.net akamaitechnologies.com edgekey.net "
    "edgesuite.net akadns.net akamai.com akam.net "
    "cloudfront.net amazonaws.com awsdns-cn.com amazontrust.com aws.dev awsstatic.com "
    "cloudflare.com cloudflare.net cloudflare-dns.com cloudflareinsights.com "
    "fastly.net fastlylb.net fastly-edge.com "
    "azureedge.net azurefd.net azure.com azure.net azurewebsites.net cloudapp.net "
    "cloudapp.azure.com trafficmanager.net windows.net msedge.net "
    "googleusercontent.com googleapis.com gstatic.com googlevideo.com ggpht.com 1e100.net "
    "gvt1.com gvt2.com appspot.com cdn.ampproject.org "
    "llnwd.net llnw.net limelight.com edgecastcdn.net "
    "b-cdn.net bunny.net kxcdn.com jsdelivr.net unpkg.com cdnjs.com "
    "stackpathdns.com hwcdn.net cdn77.org "
    "fbcdn.net cdninstagram.com whatsapp.net twimg.com "
    # Operating systems, updates and time: every machine asks them all day.
    "microsoft.com windows.com windowsupdate.com msftncsi.com msftconnecttest.com "
    "office.com office.net office365.com microsoftonline.com live.com msn.com bing.com "
    "skype.com lync.com teams.microsoft.com sharepoint.com onedrive.com "
    "msauth.net msftauth.net msocsp.com digicert.com "
    "apple.com icloud.com mzstatic.com apple-dns.net aaplimg.com cdn-apple.com "
    "google.com youtube.com gmail.com android.com "
    "ubuntu.com canonical.com debian.org fedoraproject.org redhat.com centos.org "
    "snapcraft.io launchpad.net pool.ntp.org ntp.org "
    # Certificate checks (OCSP, CRL)
    "letsencrypt.org lencr.org sectigo.com globalsign.com entrust.net usertrust.com "
    "godaddy.com pki.goog verisign.com "
    # Security products' reputation and telemetry lookups over DNS
    "sophosxl.net sophos.com mcafee.com mcafee-cloud.com trendmicro.com "
    "eset.com e5.sk avast.com avcdn.net avg.com kaspersky.com kaspersky-labs.com "
    "symantec.com symantecliveupdate.com norton.com broadcom.com crowdstrike.com "
    "sentinelone.net bitdefender.com bitdefender.net malwarebytes.com paloaltonetworks.com "
    "zscaler.net zscaler.com opendns.com umbrella.com fortinet.net fortiguard.com "
    # Spam block lists queried by mail servers: one lookup per sender address
    "spamhaus.org spamhaus.net spamcop.net barracudacentral.org sorbs.net surbl.org "
    "uribl.com mailspike.net senderscore.com dnswl.org abuseat.org "
    # Reverse lookups: one name per address, many addresses
    "in-addr.arpa ip6.arpa"
)
"""Infrastructure the DNS detectors never flag: CDNs, clouds, updates, reputation lookups."""

POPULAR: frozenset[str] = _words(
    "google.com youtube.com facebook.com instagram.com twitter.com x.com linkedin.com "
    "wikipedia.org wikimedia.org amazon.com ebay.com yahoo.com reddit.com netflix.com "
    "nflxvideo.net nflxso.net spotify.com scdn.co zoom.us slack.com slack-edge.com "
    "github.com githubusercontent.com github.io gitlab.com atlassian.com atlassian.net "
    "bitbucket.org stackoverflow.com dropbox.com dropboxapi.com box.com salesforce.com "
    "force.com adobe.com adobe.io typekit.net paypal.com whatsapp.com tiktok.com "
    "tiktokcdn.com pinterest.com tumblr.com wordpress.com wp.com medium.com "
    "cnn.com bbc.co.uk bbc.com nytimes.com theguardian.com reuters.com bloomberg.com "
    "doubleclick.net googlesyndication.com google-analytics.com googletagmanager.com "
    "googleadservices.com demdex.net omtrdc.net hubspot.com zendesk.com "
    "okta.com oktacdn.com duosecurity.com webex.com docusign.net docusign.com "
    "pypi.org pythonhosted.org npmjs.org npmjs.com docker.io docker.com"
)
"""Popular services, written here from common knowledge: never newly observed, never DGA."""
