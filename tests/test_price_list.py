"""make prices: the price table rebuilt from the AWS Price List's bulk offer files, offline, against
tests/fixtures/price_list: an offer index, region indexes and eu-west-1 offer files in the files' own layout (products,
OnDemand and Reserved terms, tiered prices, and look-alike products that must not be taken). The figures are written
here by hand, not read back from the fixtures, and differ from the committed us-east-1 table's."""

from __future__ import annotations

import copy
import io
import json
import shutil
import socket
import subprocess
import urllib.error
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from portkey_gateway import assembly, cost, price_list
from portkey_gateway.price_list import BASE, PriceListError

from .conftest import ROOT, synthesize
from .test_cost import refusal

FIXTURES = Path(__file__).parent / "fixtures" / "price_list"
REGION = "eu-west-1"
TODAY = date(2026, 12, 4)
TEMPLATE = cost.load_prices()  # the committed table: its keys and names are what is looked up

# Every figure of the table for eu-west-1, as the fixtures' offer files price it.
EXPECTED = {
    "ec2.hourly": {
        "t4g.nano": "0.0046", "t4g.micro": "0.0092", "t4g.small": "0.0184", "t4g.medium": "0.0368",
        "t4g.large": "0.0736", "t4g.xlarge": "0.1472", "t4g.2xlarge": "0.2944",
        "c6g.medium": "0.0388", "c6g.large": "0.0776", "c6g.xlarge": "0.1552", "c6g.2xlarge": "0.3104",
        "c6g.4xlarge": "0.6208", "c7g.medium": "0.0411", "c7g.large": "0.0822", "c7g.xlarge": "0.1644",
        "c7g.2xlarge": "0.3288", "c7g.4xlarge": "0.6576", "m6g.medium": "0.043", "m6g.large": "0.086",
        "m6g.xlarge": "0.172", "m6g.2xlarge": "0.344", "m6g.4xlarge": "0.688", "m7g.medium": "0.0459",
        "m7g.large": "0.0918", "m7g.xlarge": "0.1836", "m7g.2xlarge": "0.3672", "m7g.4xlarge": "0.7344",
        "r6g.medium": "0.0564", "r6g.large": "0.1128", "r6g.xlarge": "0.2256", "r6g.2xlarge": "0.4512",
        "r6g.4xlarge": "0.9024", "r7g.medium": "0.0599", "r7g.large": "0.1197", "r7g.xlarge": "0.2394",
        "r7g.2xlarge": "0.4788", "r7g.4xlarge": "0.9576"},
    "ebs.gb_month": {"gp3": "0.088", "gp2": "0.11"},
    "vpc": {"nat_gateway_hour": "0.048", "nat_gateway_gb": "0.048", "public_ipv4_hour": "0.005"},
    "privatelink": {"interface_endpoint_az_hour": "0.011", "interface_endpoint_gb": "0.01"},  # the first PB
    "elb.application": {"hour": "0.0252", "lcu_hour": "0.008"},
    "elb.network": {"hour": "0.0252", "lcu_hour": "0.006"},
    "elasticache": {"valkey_discount": "0.2"},
    "elasticache.node_hour": {
        "cache.t4g.micro": "0.018", "cache.t4g.small": "0.036", "cache.t4g.medium": "0.072",
        "cache.m6g.large": "0.166", "cache.m6g.xlarge": "0.332", "cache.m7g.large": "0.176",
        "cache.m7g.xlarge": "0.352", "cache.r6g.large": "0.229", "cache.r6g.xlarge": "0.458",
        "cache.r7g.large": "0.244", "cache.r7g.xlarge": "0.488"},
    "secrets_manager": {"secret_month": "0.40"},
    "kms": {"key_month": "1"},
    "waf": {"web_acl_month": "5", "rule_month": "1", "million_requests": "0.6"},  # 0.0000006 a request
    "cloudwatch": {"dashboard_month": "3", "alarm_metric_month": "0.1", "composite_alarm_month": "0.5",
                   "metric_month": "0.3", "detailed_monitoring_metrics": "7", "logs_ingestion_gb": "0.57",
                   "vended_logs_ingestion_gb": "0.57", "logs_storage_gb_month": "0.03"},  # first tiers
    "s3": {"standard_gb_month": "0.023"},  # the first 50 TB
}
PUBLISHED = {
    "AmazonEC2": "2026-11-27T20:15:14Z", "AmazonVPC": "2026-11-18T16:30:52Z", "AWSELB": "2026-11-05T21:08:33Z",
    "AmazonElastiCache": "2026-11-21T00:44:17Z", "AWSSecretsManager": "2026-10-09T18:02:11Z",
    "awskms": "2026-09-30T23:22:49Z", "awswaf": "2026-11-14T01:55:30Z", "AmazonCloudWatch": "2026-11-24T19:00:06Z",
    "AmazonCloudWatch (all regions)": "2026-11-24T19:00:06Z", "AmazonS3": "2026-11-20T22:45:43Z",
}
NOT_PRICES = {"elasticache.valkey_discount", "cloudwatch.detailed_monitoring_metrics"}


def expected(dotted: str) -> Decimal:
    section, _, key = dotted.rpartition(".")
    while section not in EXPECTED:  # "ec2.hourly.t4g" + "nano" -> "ec2.hourly" + "t4g.nano"
        section, _, head = section.rpartition(".")
        key = f"{head}.{key}"
    return Decimal(EXPECTED[section][key])


def figures(table: dict, prefix: str = "") -> dict[str, object]:
    """Every number of a table's price sections, by dotted name."""
    found = {}
    for key, value in table.items():
        if key in ("provenance", "skus"):
            continue
        if isinstance(value, dict):
            found.update(figures(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            found[prefix + key] = value
    return found


def offer_file(url: str) -> Path:
    assert url.startswith(BASE + "/offers/v1.0/aws/"), url
    return FIXTURES / url[len(BASE) + 1:]


def serve(url: str):
    """The pricing host, from the fixtures."""
    return open(offer_file(url), "rb")


def serving(**changes):
    """The fixtures with an offer file changed: changes maps an offer code to a function editing its parsed file."""
    def opener(url: str):
        path = offer_file(url)
        for code, change in changes.items():
            if f"/aws/{code}/" in url and url.endswith(f"/{REGION}/index.json"):
                offer = json.loads(path.read_text())
                change(offer)
                return io.BytesIO(json.dumps(offer).encode())
        return open(path, "rb")
    return opener


def product_sku(offer: dict, usage_type: str, **attributes) -> str:
    (sku,) = [sku for sku, product in offer["products"].items() if product["attributes"].get("usagetype") ==
              usage_type and all(product["attributes"].get(k) == v for k, v in attributes.items())]
    return sku


def fixture_offer(code: str) -> dict:
    (path,) = (FIXTURES / "offers/v1.0/aws" / code).glob(f"*/{REGION}/index.json")
    return json.loads(path.read_text())


def build(opener=serve, template=None) -> dict:
    return price_list.build_table(REGION, template or TEMPLATE, opener=opener, today=TODAY)


@pytest.fixture(scope="module")
def table() -> dict:
    return build()


# ---------------------------------------------------------------------------------------------------- conversion

def test_every_figure_is_the_price_lists_and_the_table_keeps_its_shape(table):
    numbers = figures(table)
    assert set(numbers) == set(figures(TEMPLATE))  # the same keys, every instance, volume and node type
    assert {name: Decimal(str(value)) for name, value in numbers.items()} == {name: expected(name) for name in numbers}
    assert (table["region"], table["currency"], table["compiled"]) == (REGION, "USD", TODAY)
    assert [key for key in table if isinstance(table[key], dict)] == ["provenance", *cost.SECTIONS, "skus"]
    assert all(table[section]["source"] == TEMPLATE[section]["source"] for section in cost.SECTIONS)


def test_provenance_dates_every_offer_file_read(table):
    assert table["provenance"] == {"kind": "aws-price-list", "region": REGION, "fetched": TODAY,
                                   "offers": dict(sorted(PUBLISHED.items())), "derived": price_list.DERIVED}


def test_each_price_names_the_sku_and_rate_code_it_came_from(table):
    valkey = {f"elasticache.valkey_node_hour.{node}" for node in TEMPLATE["elasticache"]["node_hour"]}
    assert set(table["skus"]) == set(figures(TEMPLATE)) - NOT_PRICES | valkey
    ec2, vpc, cloudwatch = fixture_offer("AmazonEC2"), fixture_offer("AmazonVPC"), fixture_offer("AmazonCloudWatch")
    nat = product_sku(ec2, "EU-NatGateway-Hours")
    assert table["skus"]["vpc.nat_gateway_hour"] == f"AmazonEC2/{nat}.JRTCKXETXF.6YS6EN2CT7"
    m7g = product_sku(ec2, "EU-BoxUsage:m7g.xlarge", operatingSystem="Linux", tenancy="Shared", preInstalledSw="NA")
    assert table["skus"]["ec2.hourly.m7g.xlarge"] == f"AmazonEC2/{m7g}.JRTCKXETXF.6YS6EN2CT7"
    endpoint = product_sku(vpc, "EU-VpcEndpoint-Bytes")
    assert table["skus"]["privatelink.interface_endpoint_gb"] == f"AmazonVPC/{endpoint}.JRTCKXETXF.6YS6EN2CT7"
    assert table["skus"]["cloudwatch.dashboard_month"].startswith("AmazonCloudWatch (all regions)/")
    assert table["skus"]["cloudwatch.alarm_metric_month"].startswith(
        f"AmazonCloudWatch/{product_sku(cloudwatch, 'EU-CW:AlarmMonitorUsage')}.")
    # Every rate code is an OnDemand price in its offer file, and the figure is that price (per million requests
    # for WAF requests).
    for name, source in table["skus"].items():
        label, rate_code = source.split("/")
        code = label.split(" ")[0]
        offer = json.loads((FIXTURES / "offers/v1.0/aws/AmazonCloudWatch/current/index.json").read_text()) \
            if label.endswith("(all regions)") else fixture_offer(code)
        sku, term, _ = rate_code.split(".")
        dimension = offer["terms"]["OnDemand"][sku][f"{sku}.{term}"]["priceDimensions"][rate_code]
        price = Decimal(dimension["pricePerUnit"]["USD"]) * (1_000_000 if name == "waf.million_requests" else 1)
        if not name.startswith("elasticache.valkey_node_hour."):
            assert price == expected(name), name


def test_valkey_is_priced_as_one_discount_on_redis_oss(table):
    assert table["elasticache"]["valkey_discount"] == Decimal("0.2")
    # cost.py's arithmetic on the table gives the Valkey node prices of the offer file.
    cache = fixture_offer("AmazonElastiCache")
    sku = product_sku(cache, "EU-NodeUsage:cache.r7g.large", cacheEngine="Valkey")
    (term,) = cache["terms"]["OnDemand"][sku].values()
    (dimension,) = term["priceDimensions"].values()
    node = float(table["elasticache"]["node_hour"]["cache.r7g.large"])
    assert round(node * (1 - float(table["elasticache"]["valkey_discount"])), 6) == \
        float(dimension["pricePerUnit"]["USD"])


def test_usage_types_with_and_without_a_region_prefix():
    matches = price_list.usage_matches
    assert all(matches(usage, "NatGateway-Hours", "eu-west-1") for usage in
               ("NatGateway-Hours", "EU-NatGateway-Hours", "USE1-NatGateway-Hours", "EUW2-NatGateway-Hours"))
    assert matches("eu-west-1-KMS-Keys", "KMS-Keys", "eu-west-1")
    assert not any(matches(usage, usage_type, "us-east-1") for usage, usage_type in (
        ("EU-RegionalNatGateway-Hours", "NatGateway-Hours"), ("EU-NatGateway-Prvd-Bytes", "NatGateway-Bytes"),
        ("EU-Outposts-LoadBalancerUsage", "LoadBalancerUsage"), ("Global-CW:AlarmMonitorUsage", "CW:AlarmMonitorUsage"),
        ("USE1-BOS1-BoxUsage:t4g.nano", "BoxUsage:t4g\\.nano"), ("EU-ShieldProtected-WebACLV2", "WebACLV2"),
        ("eu-west-1-KMS-Keys", "KMS-Keys"), ("EU-KMS-Keys-Rotation", "KMS-Keys")))


def test_products_of_another_region_or_zone_are_not_taken():
    query, nano = price_list.ec2_query("t4g.nano"), fixture_offer("AmazonEC2")["products"]
    (product,) = [p for p in nano.values() if p["attributes"]["usagetype"] == "EU-BoxUsage:t4g.nano"]
    attributes = product["attributes"]
    assert price_list.matches(query, product, REGION)
    for other in ({"regionCode": "eu-west-2"}, {"locationType": "AWS Local Zone"},
                  {"regionCode": "eu-west-1-lhr-1", "locationType": "AWS Local Zone"}):
        assert not price_list.matches(query, {**product, "attributes": {**attributes, **other}}, REGION), other
    dashboard = price_list.QUERIES["cloudwatch.dashboard_month"]
    global_product = {"productFamily": "Dashboard", "attributes": {"usagetype": "DashboardsUsageHour",
                                                                   "regionCode": "", "location": "Any"}}
    assert price_list.matches(dashboard, global_product, REGION)
    assert not price_list.matches(dashboard, {**global_product, "attributes": {
        **global_product["attributes"], "regionCode": "us-east-1"}}, REGION)


def test_the_documented_range_names_are_read_too():
    """The files write beginRange; AWS's documentation writes startingRange: a tiered price in either spelling."""
    query = price_list.QUERIES["privatelink.interface_endpoint_gb"]
    for begin in ("beginRange", "startingRange"):
        dimensions = {f"S.T.{tier}": {"rateCode": f"S.T.{tier}", begin: start, "unit": "GB",
                                      "pricePerUnit": {"USD": price}}
                      for tier, start, price in (("A", "1048576", "0.006"), ("B", "0", "0.01"))}
        offer = price_list.Offer("AmazonVPC", "AmazonVPC", "2026-11-18T16:30:52Z", {"S": {}},
                                 {"S": {"S.T": {"priceDimensions": dimensions}}})
        price = price_list.price_of("privatelink.interface_endpoint_gb", query, offer, "S")
        assert (price.value, price.rate_code) == (Decimal("0.01"), "S.T.B")


# ---------------------------------------------------------------------------------------------------- streaming

def test_offer_files_are_read_in_small_pieces(monkeypatch, table):
    monkeypatch.setattr(price_list, "CHUNK", 7)  # values cut anywhere: keys, numbers, escapes, white space
    assert build() == table


def test_values_cut_at_any_point_are_read_whole():
    text = '{"a" : 12345.678, "b" : "x\\"y\\u00e9z", "c" : {"d" : [1, 2.5, true, null]}, "e" : -7}'
    for chunk in (1, 2, 3, 5):
        reader = price_list.JsonStream(io.StringIO(text), chunk=chunk)
        assert {key: reader.value() for key in reader.members()} == json.loads(text), chunk


def test_only_the_products_asked_for_are_kept():
    ec2 = open(FIXTURES / "offers/v1.0/aws/AmazonEC2/20261127201514/eu-west-1/index.json", "rb")
    query = price_list.ec2_query("m7g.xlarge")
    offer = price_list.read_offer(ec2, "AmazonEC2", lambda product: price_list.matches(query, product, REGION))
    assert len(offer.products) == len(offer.on_demand) == 1  # not the reserved, RHEL, dedicated look-alikes
    assert offer.published == PUBLISHED["AmazonEC2"]


def test_terms_before_products_are_read_too():
    offer = {"formatVersion": "v1.0", "offerCode": "awskms", "publicationDate": "2026-09-30T23:22:49Z",
             "terms": {"OnDemand": {"K": {"K.T": {}}, "R": {"R.T": {}}}},
             "products": {"K": {"sku": "K", "attributes": {"usagetype": "KMS-Keys"}},
                          "R": {"sku": "R", "attributes": {"usagetype": "KMS-Requests"}}}}
    read = price_list.read_offer(io.BytesIO(json.dumps(offer).encode()), "awskms",
                                 lambda product: product["attributes"]["usagetype"] == "KMS-Keys")
    assert (list(read.products), list(read.on_demand)) == (["K"], ["K"])


def test_a_file_that_is_not_an_offer_is_one_line():
    with pytest.raises(price_list.OfferFormatError, match=r"^cut short, or not JSON$"):
        price_list.read_offer(io.BytesIO(b'{"formatVersion" : "v1.0", "products" : {"A" : {"sku"'), "awskms",
                              lambda product: True)
    with pytest.raises(price_list.OfferFormatError, match=r"^offer 'awswaf' where awskms was asked for$"):
        price_list.read_offer(io.BytesIO(b'{"formatVersion": "v1.0", "offerCode": "awswaf", "products": {}}'),
                              "awskms", lambda product: True)


# ---------------------------------------------------------------------------------------------------- errors

def run(monkeypatch, capsys, opener, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(price_list, "open_url", opener)
    status = price_list.main(["--region", REGION, *args])
    out, err = capsys.readouterr()
    return status, out, err


def without(usage_type: str):
    def change(offer: dict) -> None:
        sku = product_sku(offer, usage_type)
        del offer["products"][sku], offer["terms"]["OnDemand"][sku]
    return change


def test_a_figure_the_offer_file_lacks_is_a_one_line_error_naming_it(monkeypatch, capsys, tmp_path):
    with pytest.raises(PriceListError) as raised:
        build(serving(AmazonEC2=without("EU-NatGateway-Hours")))
    assert str(raised.value) == ("vpc.nat_gateway_hour: no product with productFamily=NAT Gateway, "
                                 "usagetype=[prefix-]NatGateway-Hours, regionCode=eu-west-1 in AmazonEC2 or AmazonVPC")
    table = tmp_path / "prices.yaml"
    table.write_text("unchanged")
    status, out, err = run(monkeypatch, capsys, serving(AmazonEC2=without("EU-NatGateway-Hours")), "-o", str(table))
    assert status == 2 and err.splitlines() == [f"price_list: {raised.value}"]
    assert table.read_text() == "unchanged"  # nothing is written unless every figure was found


def test_every_missing_figure_is_counted_in_the_one_line(monkeypatch, capsys):
    status, out, err = run(monkeypatch, capsys, serving(awskms=without("eu-west-1-KMS-Keys"),
                                                        AmazonS3=without("EU-TimedStorage-ByteHrs")))
    assert status == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("price_list: kms.key_month: no product with productFamily=Encryption Key, "
                           "usagetype=[prefix-]KMS-Keys, regionCode=eu-west-1 in awskms")
    assert line.endswith(" (and 1 more: s3.standard_gb_month)")


def test_an_ambiguous_figure_is_a_one_line_error_naming_it_and_the_skus(monkeypatch, capsys):
    def twice(offer: dict) -> None:
        sku = product_sku(offer, "eu-west-1-KMS-Keys")
        offer["products"]["SECONDKMSKEYSKU0"] = {**offer["products"][sku], "sku": "SECONDKMSKEYSKU0"}
    status, out, err = run(monkeypatch, capsys, serving(awskms=twice))
    sku = product_sku(fixture_offer("awskms"), "eu-west-1-KMS-Keys")
    assert status == 2 and err.splitlines() == [
        "price_list: kms.key_month: 2 products match productFamily=Encryption Key, usagetype=[prefix-]KMS-Keys, "
        f"regionCode=eu-west-1 in awskms (awskms/{sku}, awskms/SECONDKMSKEYSKU0): ambiguous"]


def test_an_unreachable_host_is_one_line(monkeypatch, capsys):
    def offline(url):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))
    status, out, err = run(monkeypatch, capsys, offline)
    assert status == 2 and out == ""
    assert err == ("price_list: cannot reach pricing.us-east-1.amazonaws.com: [Errno -3] Temporary failure in name "
                   "resolution (run it where the internet is reachable)\n")


def test_a_download_cut_short_or_refused_is_one_line(monkeypatch, capsys):
    class Stalls(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise TimeoutError("The read operation timed out")

    def stalls_on_ec2(url):
        return io.BufferedReader(Stalls()) if "/AmazonEC2/2026" in url else serve(url)
    status, out, err = run(monkeypatch, capsys, stalls_on_ec2)
    assert status == 2 and err == ("price_list: cannot reach pricing.us-east-1.amazonaws.com: The read operation "
                                   "timed out (run it where the internet is reachable)\n")

    def forbidden(url):
        raise urllib.error.HTTPError(url, 403, "Forbidden", {}, None)
    status, out, err = run(monkeypatch, capsys, forbidden)
    assert status == 2 and err == (f"price_list: pricing.us-east-1.amazonaws.com answered 403 Forbidden for "
                                   f"{BASE}/offers/v1.0/aws/index.json\n")


def test_a_unit_it_does_not_know_and_a_zero_price_are_refused():
    def hourly(offer: dict) -> None:
        sku = product_sku(offer, "EU-AWSSecretsManager-Secrets")
        (term,) = offer["terms"]["OnDemand"][sku].values()
        (dimension,) = term["priceDimensions"].values()
        dimension["unit"] = "Secret-Hrs"
    with pytest.raises(PriceListError, match=r"^secrets_manager\.secret_month: SKU \w+ in AWSSecretsManager is "
                                             r"priced per 'Secret-Hrs', not per 'secrets' or 'secret' or 'month'"):
        build(serving(AWSSecretsManager=hourly))

    def free(offer: dict) -> None:
        sku = product_sku(offer, "EU-NatGateway-Bytes")
        (term,) = offer["terms"]["OnDemand"][sku].values()
        (dimension,) = term["priceDimensions"].values()
        dimension["pricePerUnit"]["USD"] = "0.0000000000"
    with pytest.raises(PriceListError, match=r"^vpc\.nat_gateway_gb: SKU \w+ in AmazonEC2 costs 0\.0000000000 USD "
                                             r"per GB: a free tier or a placeholder, not the price$"):
        build(serving(AmazonEC2=free))


def test_valkey_that_is_not_one_discount_is_refused():
    def dearer(offer: dict) -> None:
        sku = product_sku(offer, "EU-NodeUsage:cache.r7g.large", cacheEngine="Valkey")
        (term,) = offer["terms"]["OnDemand"][sku].values()
        (dimension,) = term["priceDimensions"].values()
        dimension["pricePerUnit"]["USD"] = "0.2300000000"
    with pytest.raises(PriceListError, match=r"^elasticache\.valkey_discount: Valkey is not one discount on Redis "
                                             r"OSS in eu-west-1 \(.*cache\.r7g\.large 5\.7%.*\), and cost\.py prices "
                                             r"Valkey as one$"):
        build(serving(AmazonElastiCache=dearer))


def test_a_region_without_an_offer_file_and_a_name_that_is_no_region(monkeypatch, capsys):
    with pytest.raises(PriceListError, match=r"^AmazonEC2 has no offer file for ap-south-2 \(not an AWS Region, or "
                                             r"AmazonEC2 is not offered there\)$"):
        price_list.build_table("ap-south-2", TEMPLATE, opener=serve)
    monkeypatch.setattr(price_list, "open_url", serve)
    assert price_list.main(["--region", "Ireland"]) == 2
    assert capsys.readouterr().err == "price_list: not a region code: 'Ireland' (like eu-west-1)\n"


def test_a_figure_of_the_table_without_a_query_is_refused():
    template = copy.deepcopy(TEMPLATE)
    template["kms"]["hsm_hour"] = 1.45
    with pytest.raises(PriceListError, match=r"^the table's kms\.hsm_hour has no Price List query: add one to "
                                             r"portkey_gateway/price_list\.py \(QUERIES\)$"):
        build(template=template)


# ---------------------------------------------------------------------------------------------------- cost.py

def same_numbers_table() -> dict:
    """The committed table with the expected eu-west-1 numbers put in by hand: no provenance, no SKUs."""
    table = copy.deepcopy(TEMPLATE)
    table["region"] = REGION
    for path in price_list._numbers(TEMPLATE):
        section = table
        for key in path[:-1]:
            section = section[key]
        section[path[-1]] = float(expected(".".join(path)))
    return table


def test_the_written_table_is_read_by_cost_and_prices_like_a_table_with_the_same_numbers(monkeypatch, capsys,
                                                                                            tmp_path):
    written, by_hand = tmp_path / "prices.yaml", tmp_path / "by-hand.yaml"
    status, out, err = run(monkeypatch, capsys, serve, "-o", str(written))
    assert status == 0 and err == ""
    count = len(figures(TEMPLATE)) - len(NOT_PRICES) + len(TEMPLATE["elasticache"]["node_hour"])
    assert out.splitlines()[-1] == f"price_list: wrote {written}: {count} prices for eu-west-1"
    prices = cost.load_prices(written)
    assert prices["provenance"]["fetched"] == date.today()
    by_hand.write_text(yaml.safe_dump(same_numbers_table(), sort_keys=False))
    same = cost.load_prices(by_hand)

    _, synthesized = synthesize("config-prod")
    stacks = assembly.read_stacks(synthesized.directory)
    templates = [stack.template for stack in stacks]
    ours, theirs = cost.estimate(templates, prices), cost.estimate(templates, same)
    assert ours.lines == theirs.lines and ours.total == pytest.approx(theirs.total)
    # ... and not the committed table's figures: the EC2 line is eu-west-1's m7g.xlarge price.
    (instances,) = [line for line in ours.lines if line.item == "EC2 m7g.xlarge, on-demand Linux"]
    assert instances.unit_price == 0.1836 and ours.total > cost.estimate(templates, TEMPLATE).total

    rows = cost.render(stacks, ours, prices, cost.Usage()).splitlines()
    assert f"Prices: AWS Price List, eu-west-1, published 2026-09-30 to 2026-11-27 (fetched {date.today()})" in rows
    assert not any("not verified" in row for row in rows)


def test_the_table_is_valid_yaml_that_round_trips(table):
    loaded = yaml.safe_load(price_list.to_yaml(table))
    assert figures(loaded) == {name: float(value) for name, value in figures(table).items()}
    assert {key: loaded[key] for key in ("region", "currency", "compiled", "note", "provenance", "skus")} == \
        {key: table[key] for key in ("region", "currency", "compiled", "note", "provenance", "skus")}


def test_cost_refuses_a_price_list_table_without_its_provenance(tmp_path):
    table = yaml.safe_load(price_list.to_yaml(build()))
    del table["provenance"]["offers"], table["skus"]
    path, error = refusal(table, tmp_path)
    assert str(error) == (f"{path} is not a complete price table: needs provenance.offers (a table), "
                                 "skus (a table)")


def test_cost_names_the_price_list_and_its_publication_dates(table):
    assert cost.provenance_line(table) == ("Prices: AWS Price List, eu-west-1, published 2026-09-30 to 2026-11-27 "
                                           "(fetched 2026-12-04)")
    one_day = {**table, "provenance": {**table["provenance"], "offers": {"AmazonEC2": "2026-11-27T20:15:14Z"}}}
    assert cost.provenance_line(one_day) == ("Prices: AWS Price List, eu-west-1, published 2026-11-27 "
                                             "(fetched 2026-12-04)")


def test_the_committed_table_says_it_is_not_from_the_price_list():
    assert cost.provenance_line(TEMPLATE) == (f"Prices: compiled {TEMPLATE['compiled']}, not verified against the AWS "
                                              "Price List: run make prices REGION=us-east-1")
    assert "not re-checked" in TEMPLATE["note"]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_prices_runs_the_converter_for_the_region():
    run = subprocess.run(["make", "-n", "prices", "REGION=eu-west-1"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert ".venv/bin/python -m portkey_gateway.price_list --region eu-west-1 -o portkey_gateway/prices.yaml" in \
        run.stdout
    default = subprocess.run(["make", "-n", "prices"], cwd=ROOT, capture_output=True, text=True)
    assert "--region us-east-1 -o portkey_gateway/prices.yaml" in default.stdout
