"""Rebuild prices.yaml from the AWS Price List, for any region: `make prices REGION=eu-west-1`.

Reads AWS's public bulk offer files (no credentials): the offer index lists the offers, each offer's region index
names its file for the region, and that file holds the products (a SKU and its attributes) and their terms. For every
figure of the current table (its exact keys: cost.py reads the result unchanged) the product is found by its
attributes, and its OnDemand USD price is taken; the table records, per figure, the offer and the SKU and rate code it
came from (`skus`), and each offer file's publication date (`provenance`). A figure no product matches, or several
products match, stops the run with one line naming the figure and the attributes tried: never a guess.

    python -m portkey_gateway.price_list --region eu-west-1 [-o portkey_gateway/prices.yaml]

Size: the AmazonEC2 file of a region is several hundred MB to a few GB. It is streamed (gzip when the server offers
it) and parsed one product and one SKU's terms at a time, keeping only the products a figure asks for and their
OnDemand terms: memory stays at a few MB besides a 1 MB read buffer (measured: 24 MB at most for a 320 MB file with
3,000 products kept), and parsing runs at about 30 MB/s, so the EC2 file takes one to a few minutes.

Standard library for fetching and parsing (urllib, json); PyYAML through cost.py only to read the current table's
names (instance, volume and node types) and to check the table it writes. No network here where it was written: the
file format is AWS's documented one, and the attributes each figure is found by are explained at QUERIES, with what
could and could not be confirmed.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.client
import io
import json
import os
import re
import sys
import tempfile
import textwrap
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Optional

HOST = "pricing.us-east-1.amazonaws.com"
BASE = f"https://{HOST}"
OFFER_INDEX = "/offers/v1.0/aws/index.json"
FORMAT_VERSION = "v1.0"
TIMEOUT = 60  # seconds without a byte before a download counts as failed
CHUNK = 1 << 20  # characters read at a time from an offer file

# Offer codes, as the offer index spells them.
EC2, VPC, ELB, CACHE = "AmazonEC2", "AmazonVPC", "AWSELB", "AmazonElastiCache"
SECRETS, KMS, WAF, CLOUDWATCH, S3 = "AWSSecretsManager", "awskms", "awswaf", "AmazonCloudWatch", "AmazonS3"


class PriceListError(Exception):
    """Why there is no table, in one line."""


class OfferFormatError(PriceListError):
    """An offer file that is not the documented JSON."""


# ---------------------------------------------------------------------------------------------------- queries
#
# How each figure is found. Sources (read as stored copies: there is no network where this was written):
#   [format]  AWS Billing guide, "Reading the service price list file for an AWS service" and "Reading the service
#             index file" / "Service Region index file": products{sku: {sku, productFamily, attributes}},
#             terms{OnDemand|Reserved: {sku: {sku.offerTermCode: {priceDimensions: {rateCode: {unit, startingRange,
#             endingRange, pricePerUnit: {USD}}}}}}}, publicationDate; offers{code: {currentVersionUrl,
#             currentRegionIndexUrl}}; regions{code: {currentVersionUrl}}.
#   [opencost] github.com/opencost/opencost pkg/cloud/aws provider_test.go: a 2023 AmazonEC2 us-east-2 excerpt as
#             the files have it: formatVersion v1.0, version, publicationDate "2023-03-22T14:56:51Z", attributes
#             (instanceType, tenancy, operatingSystem, licenseModel, usagetype USE2-BoxUsage:m5.large, capacitystatus,
#             marketoption OnDemand, preInstalledSw, regionCode, volumeApiName, ...), price dimensions with
#             beginRange/endRange (not the documented startingRange/endingRange), "attributesList" last.
#   [codes]   AWS "Region billing codes": usage types carry a Region short code prefix (USE1 "or no prefix", EU, EUW2,
#             APS3 ...). KMS is said by a third-party client to prefix with the region code itself (us-east-1-KMS-Keys):
#             both are accepted.
#   [vpc]     Amazon VPC guide, "Understand codes for Amazon VPC in billing and usage reports": region-PublicIPv4:
#             InUseAddress, region-VpcEndpoint-Hours, region-VpcEndpoint-Bytes (and -GWLBE- variants).
#   [cw]      CloudWatch guide, "Analyzing, optimizing, and reducing CloudWatch costs": usage types
#             <Region>-CW:<Feature> or <Region>-<Feature>; Global- marks the free tier; DashboardsUsageHour(-Basic),
#             AlarmMonitorUsage, CompositeAlarmMonitorUsage, MetricMonitorUsage, DataProcessing-Bytes,
#             VendedLog-Bytes, TimedStorage-ByteHrs.
#   [tf]      Terraform aws_pricing_product (registry docs; Pulumi's copy): one EC2 product by instanceType,
#             operatingSystem Linux, preInstalledSw NA, licenseModel "No License required", tenancy Shared,
#             capacitystatus Used.
#   [infracost] github.com/infracost/infracost internal/resources/aws/*.go: filters run against the Price List by a
#             widely used tool: families NAT Gateway, VpcEndpoint, Load Balancer-Application/-Network, Cache Instance
#             (cacheEngine), Secret, Encryption Key, Web Application Firewall (offer awswaf, WebACLV2, RuleV2,
#             RequestV2-Tier1 priced per request), Dashboard, Alarm, Metric, Data Payload, Storage Snapshot; S3
#             TimedStorage-ByteHrs with volumeType Standard; VpcEndpoint-Bytes tiers start at 0, 1048576, 5242880 GB.
#   [terracost] github.com/cycloidio/terracost mysql/testdata/2023-02-23-pricing.sql.gz: eu-west-1 products ingested
#             from AWS's bulk files in 2023: NAT Gateway in AmazonEC2 (group NGW:NatGateway, EU-NatGateway-Hours "Hrs",
#             -Bytes "GB", and EU-NatGateway-Prvd-* look-alikes), EBS volumeApiName gp3/gp2 with EU-EBS:VolumeUsage.gp3
#             "GB-Mo" (io2 in "GB-month"), AWSELB EU-LoadBalancerUsage "Hrs" / EU-LCUUsage "LCU-Hrs" and
#             EU-Outposts-* look-alikes, ElastiCache cacheEngine Redis/Memcached with EU-NodeUsage:<type> "Hrs",
#             CloudWatch "Alarms" and "Metrics" units, tiered MetricMonitorUsage and VendedLog-Bytes (0, 10240 ...),
#             Global-* products without a region; e2e/testdata/AmazonEC2_eu-west-3.csv: the OnDemand term code
#             JRTCKXETXF and rate codes SKU.JRTCKXETXF.6YS6EN2CT7.
# Not confirmed by any source: the productFamily of the public IPv4 product (not filtered on), that ElastiCache
# writes Valkey nodes as cacheEngine "Valkey" (and Redis OSS as "Redis" today, "Redis OSS" is accepted too), the units
# of KMS keys, WAF web ACLs and rules, and that the CloudWatch dashboard product is in the region's file (a global
# product: looked up in the offer's all-regions file when the region's has none). A wrong guess there fails loudly.

HOUR = {"hrs": 1, "hours": 1, "hour": 1}
GB = {"gb": 1}
GB_MONTH = {"gb-mo": 1, "gb-month": 1}
LCU_HOUR = {"lcu-hrs": 1, "lcu-hours": 1, "nlcu-hrs": 1}
PER_REQUEST_TO_MILLION = {"request": 1_000_000, "requests": 1_000_000}


def per_month(*things: str) -> dict[str, int]:
    """Units of a monthly charge: the counted thing ("Keys") or a month; never hours, bytes or requests."""
    return {**{thing.lower(): 1 for thing in things}, "month": 1, "months": 1, "mo": 1}


@dataclass(frozen=True)
class Query:
    """The product one figure is the price of: looked up in `offers`, matched on productFamily, on the usage type
    (a regular expression for what follows the optional region prefix, see usage_matches) and on attributes."""

    offers: tuple[str, ...]
    usage: str
    units: Mapping[str, int]  # accepted unit (lower case) -> factor to the table's unit
    family: Optional[str] = None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # must hold one of these values
    if_present: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # must hold one of these, when present
    scope: str = "region"  # "global": a product of no region (regionCode empty), such as CloudWatch dashboards

    def describe(self, region: str) -> str:
        parts = ([f"productFamily={self.family}"] if self.family else []) + [f"usagetype=[prefix-]{self.usage}"]
        parts += [f"{name}={'|'.join(values)}" for name, values in self.attributes.items()]
        parts += [f"{name}={'|'.join(values)} if present" for name, values in self.if_present.items()]
        where = "no region (global)" if self.scope == "global" else f"regionCode={region}"
        return f"{', '.join(parts)}, {where} in {' or '.join(self.offers)}"


QUERIES: dict[str, Query] = {
    # NAT gateways are in AmazonEC2 [terracost, infracost]; AmazonVPC is searched too, should AWS move them (one
    # product across both must match). RegionalNatGateway-* and NatGateway-Prvd-* are other products.
    "vpc.nat_gateway_hour": Query((EC2, VPC), "NatGateway-Hours", HOUR, family="NAT Gateway"),
    "vpc.nat_gateway_gb": Query((EC2, VPC), "NatGateway-Bytes", GB, family="NAT Gateway"),
    # In use and idle public IPv4 addresses cost the same [vpc]; productFamily unconfirmed, so not filtered on.
    "vpc.public_ipv4_hour": Query((VPC,), r"PublicIPv4:InUseAddress", HOUR),
    # PrivateLink interface endpoints are priced in the AmazonVPC offer [vpc, infracost]; GWLB endpoints are
    # VpcEndpoint-GWLBE-*. Data processed is tiered: the first tier (from 0 GB, the first PB) is taken.
    "privatelink.interface_endpoint_az_hour": Query((VPC,), "VpcEndpoint-Hours", HOUR, family="VpcEndpoint"),
    "privatelink.interface_endpoint_gb": Query((VPC,), "VpcEndpoint-Bytes", GB, family="VpcEndpoint"),
    # [terracost, infracost]; Outposts-LoadBalancerUsage is another product, refused by the prefix rule.
    "elb.application.hour": Query((ELB,), "LoadBalancerUsage", HOUR, family="Load Balancer-Application"),
    "elb.application.lcu_hour": Query((ELB,), "LCUUsage", LCU_HOUR, family="Load Balancer-Application"),
    "elb.network.hour": Query((ELB,), "LoadBalancerUsage", HOUR, family="Load Balancer-Network"),
    "elb.network.lcu_hour": Query((ELB,), "LCUUsage", LCU_HOUR, family="Load Balancer-Network"),
    # Unit "Secrets" [terracost's price filter; a cost-report sample].
    "secrets_manager.secret_month": Query((SECRETS,), "AWSSecretsManager-Secrets", per_month("Secrets", "Secret"),
                                          family="Secret"),
    # Unit unconfirmed ("Keys" by a third-party client).
    "kms.key_month": Query((KMS,), "KMS-Keys", per_month("Keys", "Key"), family="Encryption Key"),
    # WAFv2 (WAF Classic is WebACL/Rule/Request). Units of the web ACL and rule unconfirmed (cost reports say
    # "Month"); requests are priced per request [infracost: 1M requests = 1,000,000 x the price].
    "waf.web_acl_month": Query((WAF,), "WebACLV2", per_month("WebACL", "WebACLs", "Web ACL"),
                               family="Web Application Firewall"),
    "waf.rule_month": Query((WAF,), "RuleV2", per_month("Rule", "Rules"), family="Web Application Firewall"),
    "waf.million_requests": Query((WAF,), "RequestV2-Tier1", PER_REQUEST_TO_MILLION,
                                  family="Web Application Firewall"),
    # [cw, terracost, infracost]. Dashboards are a global product ("location Any, empty region code, Dashboards
    # units, USD 3 per dashboard per month" per a third party); DashboardsUsageHour-Basic (50 metrics or fewer) is
    # priced the same there; the general one is taken.
    "cloudwatch.dashboard_month": Query((CLOUDWATCH,), "DashboardsUsageHour", per_month("Dashboards", "Dashboard"),
                                        family="Dashboard", scope="global"),
    "cloudwatch.alarm_metric_month": Query((CLOUDWATCH,), "CW:AlarmMonitorUsage", per_month("Alarms", "Alarm"),
                                           family="Alarm"),
    "cloudwatch.composite_alarm_month": Query((CLOUDWATCH,), "CW:CompositeAlarmMonitorUsage",
                                              per_month("Alarms", "Alarm"), family="Alarm"),
    # Tiered: the first 10,000 metrics.
    "cloudwatch.metric_month": Query((CLOUDWATCH,), "CW:MetricMonitorUsage", per_month("Metrics", "Metric"),
                                     family="Metric"),
    "cloudwatch.logs_ingestion_gb": Query((CLOUDWATCH,), "DataProcessing-Bytes", GB, family="Data Payload"),
    # Tiered: the first 10 TB.
    "cloudwatch.vended_logs_ingestion_gb": Query((CLOUDWATCH,), "VendedLog-Bytes", GB, family="Data Payload"),
    "cloudwatch.logs_storage_gb_month": Query((CLOUDWATCH,), "TimedStorage-ByteHrs", GB_MONTH,
                                              family="Storage Snapshot"),
    # S3 Standard [infracost]; tiered: the first 50 TB.
    "s3.standard_gb_month": Query((S3,), "TimedStorage-ByteHrs", GB_MONTH, family="Storage",
                                  attributes={"volumeType": ("Standard",)}),
}

REDIS_OSS = ("Redis", "Redis OSS")  # the Price List wrote "Redis" in 2023 [terracost]; "Redis OSS" since the rename?
VALKEY = ("Valkey",)  # unconfirmed


def ec2_query(instance_type: str) -> Query:
    """Linux, shared tenancy, on-demand capacity: Terraform's documented filters for one product [tf]; BoxUsage, not
    UnusedBox, Reservation or DedicatedUsage [terracost, opencost]."""
    return Query((EC2,), "BoxUsage:" + re.escape(instance_type), HOUR, family="Compute Instance",
                 attributes={"instanceType": (instance_type,), "operatingSystem": ("Linux",), "tenancy": ("Shared",),
                             "preInstalledSw": ("NA",), "capacitystatus": ("Used",),
                             "licenseModel": ("No License required",)},
                 if_present={"marketoption": ("OnDemand",)})  # newer files tell on-demand from capacity blocks


def ebs_query(volume_type: str) -> Query:
    """Provisioned storage of a volume type, by its API name [terracost, infracost]."""
    return Query((EC2,), r"EBS:VolumeUsage(\.[A-Za-z0-9.]+)?", GB_MONTH, family="Storage",
                 attributes={"volumeApiName": (volume_type,)})


def cache_query(node_type: str, engines: tuple[str, ...]) -> Query:
    """An on-demand node of an engine [terracost, infracost]: NodeUsage, not Outposts or extended support."""
    return Query((CACHE,), "NodeUsage:" + re.escape(node_type), HOUR, family="Cache Instance",
                 attributes={"instanceType": (node_type,), "cacheEngine": engines})


# Figures of the table that are not one product's price: how they are made (written under provenance.derived).
DERIVED = {
    "elasticache.valkey_discount": "1 - Valkey / Redis OSS node-hour price, the same for every node type under "
                                   "elasticache.node_hour (SKUs: skus elasticache.node_hour.* and "
                                   "elasticache.valkey_node_hour.*)",
    "cloudwatch.detailed_monitoring_metrics": "a count, not a price: kept from the table this one was built from",
}
# Tables of names: every name the current table holds is looked up.
NAMED = {("ec2", "hourly"): ec2_query, ("ebs", "gb_month"): ebs_query,
         ("elasticache", "node_hour"): lambda node: cache_query(node, REDIS_OSS)}
VALKEY_TOLERANCE = Decimal("0.0001")  # USD an hour: Valkey prices within this of Redis OSS x (1 - discount)


@functools.lru_cache(maxsize=None)
def _usage_pattern(usage: str, region: str) -> re.Pattern:
    return re.compile(rf"(?:(?:[A-Z]{{2,5}}[0-9]*|{re.escape(region)})-)?(?:{usage})")


def usage_matches(usage_type: str, usage: str, region: str) -> bool:
    """Whether a usagetype is `usage` after an optional region prefix: a billing short code (USE1, EU, EUW2, APS3 ...)
    or the region code itself. Global- (free tier), Outposts- and Local Zone prefixes (USE1-BOS1-) do not qualify."""
    return _usage_pattern(usage, region).fullmatch(usage_type) is not None


def matches(query: Query, product: dict, region: str) -> bool:
    """Whether a product is the one a query describes (the cheap tests first: this runs for every EC2 product)."""
    attributes = product.get("attributes") or {}
    if query.family is not None and product.get("productFamily") != query.family:
        return False
    if any(attributes.get(name) not in values for name, values in query.attributes.items()):
        return False
    if not all(attributes[name] in values for name, values in query.if_present.items() if name in attributes):
        return False
    code = attributes.get("regionCode")
    if query.scope == "global":
        if code:
            return False
    elif (code is not None and code != region) or attributes.get("locationType", "AWS Region") != "AWS Region":
        return False
    return usage_matches(attributes.get("usagetype", ""), query.usage, region)


# ---------------------------------------------------------------------------------------------------- fetching

def open_url(url: str):
    """The body of a URL as a binary stream, decompressed when the server sends gzip."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip", "User-Agent": "portkey-gateway-prices"})
    response = urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310 (a fixed https host)
    if response.headers.get("Content-Encoding", "").lower() == "gzip":
        return gzip.GzipFile(fileobj=response)
    return response


NETWORK_ERRORS = (urllib.error.URLError, OSError, http.client.HTTPException)
CORRUPT_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError)


def _reading(url: str, read: Callable, opener: Callable):
    """`read(stream)` of a URL, its failures as one-line PriceListErrors."""
    try:
        with opener(url) as stream:
            return read(stream)
    except OfferFormatError as error:
        raise OfferFormatError(f"{url} is not an offer file as documented: {error}") from None
    except urllib.error.HTTPError as error:
        raise PriceListError(f"{HOST} answered {error.code} {error.reason} for {url}") from None
    except CORRUPT_ERRORS as error:
        raise PriceListError(f"the download of {url} is cut short or corrupt: {error}") from None
    except NETWORK_ERRORS as error:
        reason = getattr(error, "reason", None) or error
        raise PriceListError(f"cannot reach {HOST}: {reason} (run it where the internet is reachable)") from None


def _read_json(stream) -> dict:
    try:
        value = json.load(io.TextIOWrapper(stream, encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise OfferFormatError(f"not JSON: {error.msg} at line {error.lineno}") from None
    if not isinstance(value, dict):
        raise OfferFormatError("not a JSON object")
    return value


# ---------------------------------------------------------------------------------------------------- parsing

class JsonStream:
    """Incremental reading of one large JSON object: its members one at a time, each value decoded on its own, so
    the file is never held whole. Values are decoded with json's raw_decode from a buffer of CHUNK characters."""

    _space = re.compile(r"[ \t\n\r]*")

    def __init__(self, text: io.TextIOBase, chunk: int = 0):
        self._text, self._chunk = text, chunk or CHUNK
        self._buffer, self._position, self._eof = "", 0, False
        self._decoder = json.JSONDecoder()

    def _more(self) -> bool:
        if self._eof:
            return False
        data = self._text.read(self._chunk)
        if not data:
            self._eof = True
            return False
        self._buffer, self._position = self._buffer[self._position:] + data, 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            self._position = self._space.match(self._buffer, self._position).end()
            if self._position < len(self._buffer):
                return self._buffer[self._position]
            if not self._more():
                return ""

    def _take(self, character: str) -> None:
        found = self.peek()
        if found != character:
            raise OfferFormatError(f"expected {character!r}, found {found or 'the end'!r}")
        self._position += 1

    def value(self):
        """The next JSON value, whole."""
        self.peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._position)
            except json.JSONDecodeError:
                if self._more():
                    continue
                raise OfferFormatError("cut short, or not JSON") from None
            if isinstance(value, (int, float)) and not isinstance(value, bool) and \
                    (end == len(self._buffer) or self._buffer[end] in "0123456789.eE+-") and self._more():
                continue  # a number cut by the end of the buffer ("12." of "12.5") goes on in the next chunk
            self._position = end
            return value

    def members(self) -> Iterator[str]:
        """The keys of the next object, in order; the caller reads or skips each value before asking for the next."""
        self._take("{")
        if self.peek() == "}":
            self._position += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise OfferFormatError("an object key that is not a string")
            self._take(":")
            yield key
            following = self.peek()
            self._position += 1
            if following == "}":
                return
            if following != ",":
                raise OfferFormatError(f"expected ',' or '}}', found {following or 'the end'!r}")

    def skip(self) -> None:
        """Pass over the next value: an object member by member (a whole section is never decoded at once)."""
        if self.peek() == "{":
            for _ in self.members():
                self.value()
        else:
            self.value()


@dataclass
class Offer:
    """What was kept of one offer file: its publication date and the products some figure asked for."""

    code: str
    label: str  # the offer code, or "<code> (all regions)"
    published: str
    products: dict[str, dict]  # sku -> product
    on_demand: dict[str, dict]  # sku -> {sku.offerTermCode: term}


def read_offer(stream, code: str, wanted: Callable[[dict], bool], label: str = "") -> Offer:
    """Stream an offer file, keeping the products `wanted` accepts and their OnDemand terms."""
    reader = JsonStream(io.TextIOWrapper(stream, encoding="utf-8"))
    header: dict = {}
    products: dict[str, dict] = {}
    on_demand: dict[str, dict] = {}
    seen_products = False
    for key in reader.members():
        if key == "products":
            for sku in reader.members():
                product = reader.value()
                if isinstance(product, dict) and wanted(product):
                    products[sku] = product
            seen_products = True
        elif key == "terms":
            for term_type in reader.members():
                if term_type != "OnDemand":  # Reserved, and any other term type: not list prices
                    reader.skip()
                    continue
                for sku in reader.members():
                    terms = reader.value()
                    # Products come before terms in AWS's files; should they not, every OnDemand term is kept.
                    if sku in products or not seen_products:
                        on_demand[sku] = terms
        elif key in ("formatVersion", "offerCode", "publicationDate", "version"):
            header[key] = reader.value()
        else:
            reader.skip()
    if reader.peek():
        raise OfferFormatError("text after the end of the offer")
    if header.get("formatVersion") != FORMAT_VERSION:
        raise OfferFormatError(f"format version {header.get('formatVersion')!r}, not {FORMAT_VERSION}")
    if header.get("offerCode") != code:
        raise OfferFormatError(f"offer {header.get('offerCode')!r} where {code} was asked for")
    if not isinstance(header.get("publicationDate"), str):
        raise OfferFormatError("no publicationDate")
    on_demand = {sku: terms for sku, terms in on_demand.items() if sku in products}
    return Offer(code, label or code, header["publicationDate"], products, on_demand)


# ---------------------------------------------------------------------------------------------------- pricing

@dataclass(frozen=True)
class Price:
    value: Decimal
    offer: str  # the label of the offer file it came from
    sku: str
    rate_code: str  # SKU.offerTermCode.rateCode

    @property
    def source(self) -> str:
        return f"{self.offer}/{self.rate_code}"


def _decimal(text, what: str) -> Decimal:
    try:
        return Decimal(str(text))
    except InvalidOperation:
        raise OfferFormatError(f"{what} {text!r} is not a number") from None


def _begin(dimension: dict) -> str:
    """Where a price tier starts. The files write beginRange/endRange [opencost, and others' excerpts]; AWS's
    documentation writes startingRange/endingRange (so does the CSV): either is read. No range: one price from 0."""
    return dimension.get("beginRange", dimension.get("startingRange", "0"))


def price_of(name: str, query: Query, offer: Offer, sku: str) -> Price:
    """The OnDemand USD price of a product, in the figure's unit: the first tier of a tiered price."""
    terms = offer.on_demand.get(sku) or {}
    if len(terms) != 1:
        raise PriceListError(f"{name}: SKU {sku} in {offer.label} has {len(terms)} OnDemand terms, not one"
                             + (f" ({', '.join(sorted(terms))})" if terms else ""))
    (term,) = terms.values()
    dimensions = list((term.get("priceDimensions") or {}).values())
    first = [d for d in dimensions if _decimal(_begin(d), "beginRange") == 0]
    if len(first) != 1:
        raise PriceListError(f"{name}: SKU {sku} in {offer.label} has {len(first)} prices from 0 units, not one")
    (dimension,) = first
    unit = str(dimension.get("unit", ""))
    factor = query.units.get(unit.lower())
    if factor is None:
        raise PriceListError(f"{name}: SKU {sku} in {offer.label} is priced per {unit!r}, not per "
                             f"{' or '.join(repr(u) for u in query.units)}: check the unit and add it to "
                             "portkey_gateway/price_list.py")
    usd = (dimension.get("pricePerUnit") or {}).get("USD")
    if usd is None:
        raise PriceListError(f"{name}: SKU {sku} in {offer.label} has no USD price")
    value = _decimal(usd, "pricePerUnit") * factor
    if value <= 0:
        raise PriceListError(f"{name}: SKU {sku} in {offer.label} costs {usd} USD per {unit}: a free tier or a "
                             "placeholder, not the price")
    return Price(value, offer.label, sku, str(dimension.get("rateCode", f"{sku}.?.?")))


def find(name: str, query: Query, offers: Iterable[Offer], region: str) -> Price:
    """The one product a figure names, and its price; PriceListError when none or several match."""
    found = [(offer, sku) for offer in offers for sku, product in offer.products.items()
             if matches(query, product, region)]
    if not found:
        raise PriceListError(f"{name}: no product with {query.describe(region)}")
    if len(found) > 1:
        skus = ", ".join(f"{offer.label}/{sku}" for offer, sku in found)
        raise PriceListError(f"{name}: {len(found)} products match {query.describe(region)} ({skus}): ambiguous")
    offer, sku = found[0]
    return price_of(name, query, offer, sku)


# ---------------------------------------------------------------------------------------------------- the table

FigurePath = tuple[str, ...]  # ("ec2", "hourly", "t4g.nano")


def _dotted(path: FigurePath) -> str:
    return ".".join(path)


def _numbers(table: dict, prefix: FigurePath = ()) -> Iterator[FigurePath]:
    """The paths of every number in a table."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _numbers(value, prefix + (key,))
        elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            yield prefix + (key,)


def figures(template: dict) -> dict[FigurePath, Query]:
    """What to look up for every price of the template table; PriceListError for a number no query covers."""
    wanted: dict[FigurePath, Query] = {tuple(name.split(".")): query for name, query in QUERIES.items()}
    for (section, table), query in NAMED.items():
        wanted.update({(section, table, name): query(name) for name in template[section][table]})
    uncovered = [_dotted(path) for path in _numbers(template) if path not in wanted and _dotted(path) not in DERIVED]
    if uncovered:
        raise PriceListError(f"the table's {', '.join(uncovered)} has no Price List query: add one to "
                             "portkey_gateway/price_list.py (QUERIES)")
    return wanted


def _valkey(template: dict, prices: dict[FigurePath, Price], valkey: dict[str, Price], region: str) -> Decimal:
    """The one discount of Valkey nodes on Redis OSS nodes that cost.py applies, or PriceListError."""
    nodes = list(template["elasticache"]["node_hour"])
    redis = {node: prices[("elasticache", "node_hour", node)].value for node in nodes}
    discounts = {node: 1 - valkey[node].value / redis[node] for node in nodes}
    discount = (sum(discounts.values()) / len(nodes)).quantize(Decimal("0.0001"))
    off = [node for node in nodes if abs(redis[node] * (1 - discount) - valkey[node].value) > VALKEY_TOLERANCE]
    if off:
        shares = ", ".join(f"{node} {discounts[node] * 100:.1f}%" for node in nodes)
        raise PriceListError(f"elasticache.valkey_discount: Valkey is not one discount on Redis OSS in {region} "
                             f"({shares}), and cost.py prices Valkey as one")
    return discount


def build_table(region: str, template: dict, opener: Optional[Callable] = None, today: Optional[date] = None,
                progress: Callable[[str], None] = lambda line: None) -> dict:
    """The price table of a region, in the template's shape, with provenance and SKUs."""
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]+", region):
        raise PriceListError(f"not a region code: {region!r} (like eu-west-1)")
    fetch = opener if opener is not None else open_url
    wanted = figures(template)
    valkey_queries = {node: cache_query(node, VALKEY) for node in template["elasticache"]["node_hour"]}
    queries = list(wanted.values()) + list(valkey_queries.values())
    codes = list(dict.fromkeys(code for query in queries for code in query.offers))

    index = _reading(BASE + OFFER_INDEX, _read_json, fetch)
    offers_index = index.get("offers")
    if not isinstance(offers_index, dict):
        raise OfferFormatError(f"{BASE + OFFER_INDEX} lists no offers")
    offers: dict[str, Offer] = {}
    for code in codes:
        entry = offers_index.get(code)
        if not isinstance(entry, dict):
            raise PriceListError(f"the offer index has no {code} offer")
        url = BASE + entry.get("currentRegionIndexUrl", f"/offers/v1.0/aws/{code}/current/region_index.json")
        regions = _reading(url, _read_json, fetch).get("regions") or {}
        if not isinstance(regions.get(region), dict) or not regions[region].get("currentVersionUrl"):
            raise PriceListError(f"{code} has no offer file for {region} (not an AWS Region, or {code} is not "
                                 "offered there)")
        mine = [query for query in queries if code in query.offers]
        if code == EC2:
            progress(f"{code} {region}: reading its offer file (several hundred MB or more, streamed: minutes)")
        offers[code] = _reading(BASE + regions[region]["currentVersionUrl"], lambda stream, code=code, mine=mine:
                                read_offer(stream, code, lambda p: any(matches(q, p, region) for q in mine)), fetch)
        progress(f"{code} {region}: offer file published {offers[code].published}, products kept: "
                 f"{len(offers[code].products)}")

    # A global product a region's file does not list (CloudWatch dashboards) is looked up in the offer's
    # all-regions file, read once per offer.
    for query in {id(q): q for q in queries if q.scope == "global"}.values():
        for code in query.offers:
            if not any(matches(query, product, region) for product in offers[code].products.values()):
                label = f"{code} (all regions)"
                if label not in offers:
                    url = BASE + offers_index[code].get("currentVersionUrl", f"/offers/v1.0/aws/{code}/current/"
                                                                             "index.json")
                    mine = [q for q in queries if q.scope == "global" and code in q.offers]
                    names = ", ".join(name for name, known in QUERIES.items() if known in mine)
                    progress(f"{label}: reading its offer file, for {names} (a product of no region)")
                    offers[label] = _reading(url, lambda stream, code=code, mine=mine, label=label: read_offer(
                        stream, code, lambda p: any(matches(q, p, region) for q in mine), label), fetch)

    def candidates(query: Query) -> list[Offer]:
        return [offer for offer in offers.values() if offer.code in query.offers]

    prices: dict[FigurePath, Price] = {}
    problems: list[str] = []
    for path, query in wanted.items():
        try:
            prices[path] = find(_dotted(path), query, candidates(query), region)
        except OfferFormatError:
            raise
        except PriceListError as error:
            problems.append(str(error))
    valkey: dict[str, Price] = {}
    for node, query in valkey_queries.items():
        try:
            valkey[node] = find(f"elasticache.valkey_node_hour.{node}", query, candidates(query), region)
        except OfferFormatError:
            raise
        except PriceListError as error:
            problems.append(str(error))
    if problems:
        more = f" (and {len(problems) - 1} more: {', '.join(p.split(':')[0] for p in problems[1:])})" \
            if len(problems) > 1 else ""
        raise PriceListError(problems[0] + more)
    discount = _valkey(template, prices, valkey, region)

    return assemble(template, region, today or date.today(), prices, valkey, discount,
                    {offer.label: offer.published for offer in offers.values()})


NOTE = ("The OnDemand USD list prices of the AWS Price List products named under skus, from the offer files "
        "published as listed under provenance: before free tiers, Savings Plans, reservations and discounts.")


def assemble(template: dict, region: str, fetched: date, prices: dict[FigurePath, Price], valkey: dict[str, Price],
             discount: Decimal, published: dict[str, str]) -> dict:
    """The new table: the template's sections and keys, the Price List's numbers, provenance and SKUs."""
    sections = {key: json.loads(json.dumps(value)) for key, value in template.items()
                if isinstance(value, dict) and key not in ("provenance", "skus")}
    for path, price in prices.items():
        table = sections
        for key in path[:-1]:
            table = table[key]
        table[path[-1]] = price.value
    sections["elasticache"]["valkey_discount"] = discount
    skus = {_dotted(path): price.source for path, price in prices.items()}
    skus.update({f"elasticache.valkey_node_hour.{node}": price.source for node, price in valkey.items()})
    provenance = {"kind": "aws-price-list", "region": region, "fetched": fetched,
                  "offers": dict(sorted(published.items())), "derived": dict(DERIVED)}
    return {"region": region, "currency": "USD", "compiled": fetched, "note": NOTE, "provenance": provenance,
            **sections, "skus": skus}


# ---------------------------------------------------------------------------------------------------- writing

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*|[0-9]+[A-Za-z][A-Za-z0-9_.\-]*")
_PLAIN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9._/\-]*(:/[A-Za-z0-9._/\-]+)?")  # names, codes and https URLs
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _key(key: str) -> str:
    return key if _PLAIN.fullmatch(key) and key.lower() not in _RESERVED else json.dumps(key)


def _scalar(value) -> str:
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, bool) or value is None:
        raise TypeError(f"no YAML for {value!r} here")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if _PLAIN_TEXT.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _emit(mapping: dict, indent: int = 0) -> Iterator[str]:
    pad = " " * indent
    for key, value in mapping.items():
        if isinstance(value, dict):
            yield f"{pad}{_key(key)}:"
            yield from _emit(value, indent + 2)
        elif isinstance(value, str) and len(value) > 100:
            yield f"{pad}{_key(key)}: >-"  # folded: the lines are joined with single spaces
            yield from (pad + "  " + line for line in textwrap.wrap(value, 110 - indent))
        else:
            yield f"{pad}{_key(key)}: {_scalar(value)}"


HEADER = """\
# On-demand list prices that `python -m portkey_gateway.cost` (make cost) multiplies by what a synthesized
# environment creates, for {region}, written by `make prices REGION={region}` (portkey_gateway/price_list.py) from
# the AWS Price List on {fetched}: each figure is the OnDemand USD price of the product named under `skus`
# (offer file/SKU.offerTermCode.rateCode), the first tier of a tiered price; `provenance` dates each offer file.
# Hourly prices are multiplied by 730 hours a month. Rebuild rather than edit: a type to add goes in the table
# `make prices` reads its names from (this one, by default), then run it again.
"""


def to_yaml(table: dict) -> str:
    top = {key: value for key, value in table.items() if not isinstance(value, dict)}
    lines = [HEADER.format(region=table["region"], fetched=table["compiled"]).rstrip("\n")]
    lines += _emit(top)
    for key, value in table.items():
        if isinstance(value, dict):
            lines += [""] + list(_emit({key: value}))
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    """Write the table only if cost.py reads it back whole, replacing the file in one step."""
    from .cost import EstimateError, load_prices

    path = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(prefix=".prices-", suffix=".yaml", dir=path.parent)
    except OSError as error:
        raise PriceListError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        try:
            load_prices(Path(temporary))
        except EstimateError as error:
            raise PriceListError(f"the table built would not be read by cost.py: {error}") from None
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


# ---------------------------------------------------------------------------------------------------- command line

def _template(path: Path) -> dict:
    from .cost import EstimateError, load_prices

    try:
        return load_prices(path)
    except EstimateError as error:
        raise PriceListError(f"cannot read the table to take the names from: {error}") from None


def main(argv: Optional[list[str]] = None) -> int:
    from .cost import PRICES

    parser = argparse.ArgumentParser(prog="python -m portkey_gateway.price_list", description=__doc__.splitlines()[0])
    parser.add_argument("--region", required=True, help="AWS Region code, like eu-west-1")
    parser.add_argument("-o", "--output", type=Path, help="write the table there (default: print it)")
    parser.add_argument("--names-from", type=Path, default=PRICES,
                        help="the table whose instance, volume and node types are looked up (default: %(default)s)")
    args = parser.parse_args(argv)
    say = (lambda line: print(f"price_list: {line}", flush=True)) if args.output else (lambda line: None)
    try:
        table = build_table(args.region, _template(args.names_from), progress=say)
        text = to_yaml(table)
        if args.output:
            write(args.output, text)
            say(f"wrote {args.output}: {len(table['skus'])} prices for {args.region}")
        else:
            sys.stdout.write(text)
    except PriceListError as error:
        print(f"price_list: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
