"""An architecture picture of one environment, drawn with Pillow from the model of its synthesized templates.

`environment_model.read_assembly` reads what the environment is; `render` lays that model out and draws it, and the
same model always gives the same pixels.

    python -m portkey_gateway.diagram cdk.out -o docs/architecture-prod.png
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .assembly import AssemblyError
from .environment_model import Capacity, Edge, Environment, LoadBalancer, Service, read_assembly

WIDTH = 2000
MARGIN = 30            # around the region frame
INSET = 24             # from the region frame to the VPC and the panel inside it, and under the VPC
PAD = 20               # from a frame to the boxes inside it: the VPC's AZ columns, the cluster's and endpoints' boxes
GAP = 24               # between boxes side by side
PANEL = 400            # the right-hand column of regional services
PANEL_GAP = 20         # between the boxes stacked in it
LANES = 70             # between the VPC and that column: the PrivateLink paths to Portkey
TITLE = 96             # the title and subtitle, above the outside parties
REGION_GAP = 45        # from the outside parties down to the region frame
ROW_GAP = 46           # from the region frame down to the load balancer, and from it down to the VPC
LB_WIDTH = 560         # the clients' and the load balancer's boxes
ZONE_GAP = 16          # between the AZ columns
SLOT_GAP = 100         # between the boxes in the cluster: room for the arrows and labels between services
SLOTS = 3              # at least: the gateway, the data service (or room), the EC2 capacity
FOOTER = 58            # under the region frame: the footer line
LINE_HEIGHT = 21       # a line of a box's text, the first FIRST_LINE under its top
FIRST_LINE = 40
INK, MUTED, LINE = "#232F3E", "#545B64", "#3B4452"
# (stroke, fill) per kind, after the AWS architecture-icon categories.
KINDS = {
    "external": ("#232F3E", "#F2F3F3"),
    "portkey": ("#1B2A6B", "#E9EDFB"),
    "network": ("#8C4FFF", "#F4EFFF"),
    "compute": ("#ED7100", "#FFF4EA"),
    "database": ("#C925D1", "#FBEFFC"),
    "security": ("#DD344C", "#FDEEF0"),
    "storage": ("#7AA116", "#F3F8EA"),
    "management": ("#E7157B", "#FDEEF5"),
}
PUBLIC = ("#7AA116", "#EEF6E5")
PRIVATE = ("#147EBA", "#E7F2FA")

Rect = tuple[int, int, int, int]
Point = tuple[int, int]


@dataclass(frozen=True)
class Route:
    """How one edge is drawn: polylines with an arrow head at their end, plain lines (a bus it shares), and its
    label as (point, text, side of the point)."""

    arrows: tuple[tuple[Point, ...], ...]
    lines: tuple[tuple[Point, ...], ...] = ()
    label: tuple[Point, str, str] | None = None


class _Fonts:
    """Text measured in Pillow's bundled font: the layout needs it before the canvas, whose height it decides."""

    def __init__(self):
        from PIL import ImageFont  # only rendering needs Pillow

        self._font = ImageFont.load_default

    def font(self, size: int):
        return self._font(size=size)

    def width(self, text: str, size: int) -> float:
        return self.font(size).getlength(text)

    def fit(self, text: str, size: int, width: float) -> str:
        """`text` cut (with '...') to `width` pixels."""
        if self.width(text, size) <= width:
            return text
        while text and self.width(text + "...", size) > width:
            text = text[:-1]
        return text + "..."

    def wrap(self, items: list[str], size: int, width: float, separator: str = ", ") -> list[str]:
        """Items packed into as few lines of `width` pixels as they fit."""
        lines: list[str] = []
        for item in items:
            candidate = f"{lines[-1]}{separator}{item}" if lines else item
            if lines and self.width(candidate + separator.strip(), size) <= width:
                lines[-1] = candidate
            else:
                if lines:
                    lines[-1] += separator.rstrip()
                lines.append(item)
        return lines


class _Canvas(_Fonts):
    """Pillow drawing with the few primitives the picture needs: text, boxes, frames and routes."""

    def __init__(self, height: int):
        from PIL import Image, ImageDraw

        super().__init__()
        self.image = Image.new("RGB", (WIDTH, height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.labels: list[tuple[Point, str, str]] = []  # (point, text, side of the point)

    def text(self, xy: tuple[float, float], text: str, size: int = 16, fill: str = INK, bold: bool = False,
             anchor: str = "la") -> None:
        self.draw.text(xy, text, font=self.font(size), fill=fill, anchor=anchor,
                       stroke_width=0.45 if bold else 0, stroke_fill=fill)

    def frame(self, rect: Rect, stroke: str, fill: str | None = None, dashed: bool = False, width: int = 2) -> None:
        if fill:
            self.draw.rectangle(rect, fill=fill)
        if not dashed:
            self.draw.rectangle(rect, outline=stroke, width=width)
            return
        x0, y0, x1, y1 = rect
        for start, end in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x0, y1), (x1, y1)), ((x0, y0), (x0, y1))):
            self._dashes(start, end, stroke, width)

    def _dashes(self, start: Point, end: Point, fill: str, width: int) -> None:
        (x0, y0), (x1, y1) = start, end
        length = max(abs(x1 - x0), abs(y1 - y0))
        for offset in range(0, length, 14):
            stop = min(offset + 8, length)
            self.draw.line([(x0 + (x1 - x0) * offset / length, y0 + (y1 - y0) * offset / length),
                            (x0 + (x1 - x0) * stop / length, y0 + (y1 - y0) * stop / length)], fill=fill, width=width)

    def box(self, rect: Rect, kind: str, title: str, lines: list[str] = (), tag: str = "") -> None:
        """A rounded box: a coloured title (and a small kind tag on the right), then the detail lines."""
        stroke, fill = KINDS[kind]
        x0, y0, x1, _ = rect
        self.draw.rounded_rectangle(rect, radius=8, fill=fill, outline=stroke, width=2)
        self.draw.rectangle((x0 + 2, y0 + 2, x0 + 7, rect[3] - 2), fill=stroke)
        tag_width = self.width(tag, 14) + 12 if tag else 0
        self.text((x0 + 18, y0 + 11), self.fit(title, 18, x1 - x0 - 30 - tag_width), 18, stroke, bold=True)
        if tag:
            self.text((x1 - 12, y0 + 14), tag, 14, MUTED, anchor="ra")
        for index, line in enumerate(lines):
            self.text((x0 + 18, _line_y(rect, index)), self.fit(line, 16, x1 - x0 - 30), 16, INK)

    def route(self, route: Route) -> None:
        """An edge's lines and arrows now; its label with the others, last."""
        for line in route.lines:
            self.draw.line(line, fill=LINE, width=2)
        for points in route.arrows:
            self.draw.line(points, fill=LINE, width=2, joint="curve")
            self._head(points[-2], points[-1])
        if route.label and route.label[1]:
            self.labels.append(route.label)

    def _head(self, tail: Point, tip: Point) -> None:
        dx, dy = tip[0] - tail[0], tip[1] - tail[1]
        length = max((dx * dx + dy * dy) ** 0.5, 1)
        ux, uy = dx / length, dy / length
        base = (tip[0] - 13 * ux, tip[1] - 13 * uy)
        self.draw.polygon([tip, (base[0] - 6 * uy, base[1] + 6 * ux), (base[0] + 6 * uy, base[1] - 6 * ux)], fill=LINE)

    def draw_labels(self) -> None:
        """Edge labels last, on a white ground, so that no line runs through their text."""
        for (x, y), label, side in self.labels:
            width = self.width(label, 15) + 12
            left = {"right": x + 6, "left": x - 6 - width, "center": x - width / 2}[side]
            self.draw.rounded_rectangle((left, y - 12, left + width, y + 11), radius=4, fill="white", outline="#C9CED6")
            self.text((left + 6, y), label, 15, LINE, anchor="lm")


def _along(points: list[Point], fraction: float) -> Point:
    """The point `fraction` of the way along a polyline."""
    segments = list(zip(points, points[1:]))
    lengths = [abs(b[0] - a[0]) + abs(b[1] - a[1]) for a, b in segments]
    remaining = sum(lengths) * fraction
    for (a, b), length in zip(segments, lengths):
        if remaining <= length and length:
            t = remaining / length
            return round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t)
        remaining -= length
    return points[-1]


def _center_x(rect: Rect) -> int:
    return (rect[0] + rect[2]) // 2


def _center_y(rect: Rect) -> int:
    return (rect[1] + rect[3]) // 2


def _box_height(lines: int) -> int:
    return FIRST_LINE + 12 + LINE_HEIGHT * lines


def _line_y(rect: Rect, index: int) -> int:
    """The top of a box's detail line `index`."""
    return rect[1] + FIRST_LINE + LINE_HEIGHT * index


# --- text of each box -------------------------------------------------------------------------------------------------


def _service_lines(service: Service) -> list[str]:
    ports = ", ".join(str(p) for p in service.ports)
    return [f"{service.size} per task", service.count, f"deploys: {service.strategy}", f"Service Connect :{ports}"]


def _capacity_lines(capacity: Capacity) -> list[str]:
    if capacity.instance_type is None:
        return [f"existing cluster {capacity.cluster}", f"capacity provider {capacity.provider or '(default)'}"]
    return [f"Auto Scaling group of {capacity.instance_type}",
            f"min {capacity.min} · desired {capacity.desired} · max {capacity.max} instances",
            "capacity provider, managed scaling", f"cluster {capacity.cluster}"]


def _cache_box(env: Environment) -> tuple[str, list[str], str]:
    cache = env.cache
    tls = " · TLS" if cache.tls else ""
    mode = f" · {cache.mode} mode" if cache.mode else ""
    if cache.kind == "service":
        service = env.service(cache.service)
        return (f"{cache.service} (built-in cache)", [f"{service.size} · {service.count}",
                                                      f"Service Connect {cache.service}:{cache.port}{tls}"],
                "ECS service")
    if cache.kind == "created":
        shards = f" in {cache.shards} shards" if cache.shards else ""
        return (f"ElastiCache {cache.engine}", [f"{cache.nodes} x {cache.node_type}{shards}",
                                                f"port {cache.port}{tls}{mode}"], "created here")
    return "ElastiCache (existing)", [cache.endpoint or "", f"port {cache.port}{tls}{mode}"], "not managed here"


def _lb_box(lb: LoadBalancer) -> tuple[str, list[str]]:
    scheme = "internet-facing" if lb.internet_facing else "internal"
    where = "public" if lb.internet_facing else "private"
    lines = [", ".join(str(lst) for lst in lb.listeners), f"in the {where} subnets"]
    if lb.clients:
        lines.append("admits " + ", ".join(lb.clients))
    return f"{lb.short} · {scheme}", lines


def _endpoint_boxes(env: Environment, fonts: _Fonts, width: int) -> list[tuple[str, str, str, list[str]]]:
    """(node, kind, title, lines) of each endpoint box, left to right: the endpoint service first (its own NLB
    forwards to the load balancer, up the left), the control-plane one last (it exits right, to Portkey)."""
    boxes = []
    if env.endpoint_service:
        service = env.endpoint_service
        lines = [f"via {service.via}", f"private DNS {service.private_dns or '(none)'}",
                 "acceptance required" if service.acceptance_required else "auto-accepts connections"]
        boxes.append(("endpoint-service", "network", "Endpoint service (inbound)", lines))
    if env.aws_endpoints:
        boxes.append(("aws-endpoints", "network", f"VPC endpoints ({len(env.aws_endpoints)})",
                      fonts.wrap(list(env.aws_endpoints), 16, width - 34)))
    if env.control_plane_endpoint:
        boxes.append(("cp-endpoint", "network", "Control-plane endpoint", ["interface endpoint to Portkey",
                                                                          "private DNS for its host names"]))
    return boxes


def _panel_boxes(env: Environment) -> list[tuple[str, str, list[str], list[str]]]:
    """(kind, title, items, nodes) of the regional services beside the VPC; `nodes` are the model's nodes the items
    are, if they are any (a Lambda function's edges start from its line)."""
    boxes = []
    if env.secrets:
        created = [f"· {s.name}" for s in env.secrets if s.created]
        referenced = [f"· {s.name}" for s in env.secrets if not s.created]
        lines = ([f"created here ({len(created)}):", *created] if created else []) + \
                ([f"referenced ({len(referenced)}):", *referenced] if referenced else [])
        boxes.append(("security", "Secrets Manager", lines, []))
    if env.load_balancer and env.load_balancer.access_logs:
        boxes.append(("storage", "S3 access logs", [env.load_balancer.access_logs], []))
    if env.functions:
        boxes.append(("compute", f"Lambda functions ({len(env.functions)})", list(env.functions),
                      [f"function:{name}" for name in env.functions]))
    ops = env.operations
    if ops:
        lines = [f"CloudWatch dashboard {name}" for name in ops.dashboards]
        if ops.alarms:
            lines += [f"{len(ops.alarms)} CloudWatch alarm{'s' if len(ops.alarms) != 1 else ''}:"]
            lines += [f"· {name}" for name in ops.alarms]
        lines += [f"SNS topic {name}" for name in ops.topics]
        if ops.subscriptions:
            lines.append("subscriptions: " + ", ".join(ops.subscriptions))
        lines += [f"EventBridge rule: {name}" for name in ops.rules]
        boxes.append(("management", "Operations", lines, []))
    return boxes


# --- layout ----------------------------------------------------------------------------------------------------------


class Layout:
    """Where everything goes, measured before anything is drawn (it decides the picture's height). Rows from the top:
    title, outside parties, load balancer, then the VPC (an AZ column each: public subnets with their NAT gateways,
    private subnets holding the cluster, the cache and the endpoints); the regional services stack up on the right.
    Boxes joined by an edge line up, so arrows run straight. `rects` has a box per node of the model's edges (a
    Lambda function's is its line in the panel) and `routes()` a route per edge."""

    def __init__(self, env: Environment):
        self.env, self.fonts = env, _Fonts()
        self.rects: dict[str, Rect] = {}
        self.top = (TITLE, TITLE + _box_height(1))
        self.region_y = self.top[1] + REGION_GAP
        self.vpc_x = (MARGIN + INSET, WIDTH - MARGIN - INSET - PANEL - LANES)
        self.panel_x = (WIDTH - MARGIN - INSET - PANEL, WIDTH - MARGIN - INSET)
        self.lanes = (self.vpc_x[1] + 22, self.vpc_x[1] + 46)
        self.igw_x = sum(self.vpc_x) // 2 + 200
        self._outside()
        self._vpc()
        self._panel()
        self.height = max(self.vpc[3], self.panel_bottom) + INSET + FOOTER

    def _outside(self) -> None:
        """Clients, the internet and Portkey across the top; the load balancer (and WAF) under them."""
        y0, y1 = self.top
        lb_x = (self.vpc_x[0] + 26, self.vpc_x[0] + 26 + LB_WIDTH)
        if self.env.load_balancer:
            self.rects["clients"] = (lb_x[0], y0, lb_x[1], y1)
        self.rects["internet"] = (self.igw_x - 150, y0, self.igw_x + 150, y1)
        self.rects["portkey"] = (self.lanes[0] - 210, y0, self.panel_x[1], y1)
        self.lb_y = self.region_y + ROW_GAP
        lb_bottom = self.lb_y + _box_height(3)
        self.rects["lb"] = (lb_x[0], self.lb_y, lb_x[1], lb_bottom)
        if self.env.load_balancer and self.env.load_balancer.waf:
            self.rects["waf"] = (lb_x[1] + GAP, self.lb_y, lb_x[1] + GAP + 240, self.lb_y + _box_height(1))
        self.vpc_y = lb_bottom + ROW_GAP

    def _vpc(self) -> None:
        zones = self.env.network.zones
        inner = (self.vpc_x[0] + PAD, self.vpc_x[1] - PAD)
        width = (inner[1] - inner[0] - ZONE_GAP * (len(zones) - 1)) // len(zones)
        self.columns = [(inner[0] + i * (width + ZONE_GAP), inner[0] + i * (width + ZONE_GAP) + width)
                        for i in range(len(zones))]
        self.band_y = self.vpc_y + 62  # under the VPC's name and CIDR
        self.public = (self.band_y + 40, self.band_y + 130)
        self.bus_y = self.vpc_y + 44
        for zone, (x0, x1) in zip(zones, self.columns):
            if zone in self.env.network.nat_zones:
                self.rects[f"nat:{zone}"] = (x1 - 154, self.public[0] + 18, x1 - 24, self.public[0] + 70)
        self.private_y = self.public[1] + 14
        self._cluster()
        bottom = self._cache_and_endpoints(self.frame[3] + 56)
        self.private_bottom = bottom + 40
        self.vpc = (self.vpc_x[0], self.vpc_y, self.vpc_x[1], self.private_bottom + PAD)

    def _cluster(self) -> None:
        """The ECS cluster across the private subnets: a slot for each service but the cache, then the EC2 capacity.
        Three slots at least, so that the gateway keeps its place when it runs alone."""
        self.services = [s.name for s in self.env.services if not self.env.cache or s.name != self.env.cache.service]
        count = max(SLOTS, len(self.services) + 1)
        self.frame = (self.columns[0][0] + 12, self.private_y + 58, self.columns[-1][1] - 12, 0)
        x0, x1 = self.frame[0] + PAD, self.frame[2] - PAD
        width = (x1 - x0 - (count - 1) * SLOT_GAP) // count
        self.slots = [(x0 + i * (width + SLOT_GAP), x0 + i * (width + SLOT_GAP) + width) for i in range(count)]
        row = self.frame[1] + 42  # under the cluster's name
        height = _box_height(4)
        for slot, name in zip(self.slots, self.services):
            self.rects[name] = (slot[0], row, slot[1], row + height)
        self.rects["capacity"] = (self.slots[-1][0], row, self.slots[-1][1], row + height)
        self.frame = (*self.frame[:3], row + height + PAD)
        # Clients, load balancer and gateway on one vertical, right of the subnets' labels.
        self.through_x = self.slots[0][0] + (self.slots[0][1] - self.slots[0][0]) * 5 // 8

    def _cache_and_endpoints(self, y: int) -> int:
        """The cache under the first two slots (the services that use it); the endpoints in a row below, fed by a bus
        above them."""
        if self.env.cache:
            self.rects["cache"] = (self.slots[0][0], y, self.slots[1][1], y + _box_height(2))
            y += _box_height(2)
        self.endpoints = _endpoint_boxes(self.env, self.fonts, (self.frame[2] - self.frame[0] - 2 * PAD) // 3)
        if not self.endpoints:
            return y
        self.endpoint_bus_y = y + 30
        top = y + 62
        count = len(self.endpoints)
        x0, x1 = self.frame[0] + PAD, self.frame[2] - PAD
        capacity = self.slots[-1]
        width = (x1 - x0 - GAP * (count - 1)) // count if count > 1 else capacity[1] - capacity[0]
        if count == 1:
            x0 = capacity[0]
        height = max(_box_height(len(lines)) for *_, lines in self.endpoints)
        for index, (node, *_) in enumerate(self.endpoints):
            left = x0 + index * (width + GAP)
            self.rects[node] = (left, top, left + width, top + height)
        return top + height

    def _panel(self) -> None:
        """The regional services stacked beside the VPC; a Lambda function's line is its node's box."""
        x0, x1 = self.panel_x
        y = self.lb_y
        self.panel = []
        for kind, title, items, nodes in _panel_boxes(self.env):
            wrapped = [self._wrapped(item) for item in items]
            lines = [part for parts in wrapped for part in parts]
            rect = (x0, y, x1, y + _box_height(len(lines)))
            self.panel.append((rect, kind, title, lines))
            index = 0
            for node, parts in zip(nodes, wrapped):
                top = _line_y(rect, index)
                self.rects[node] = (x0, top - 2, x1, top + 18)
                index += len(parts)
            y = rect[3] + PANEL_GAP
        self.panel_bottom = y - PANEL_GAP

    def _wrapped(self, item: str) -> list[str]:
        """A long name over several lines, broken after spaces and slashes; the continuations indented."""
        lines = self.fonts.wrap(re.split(r"(?<=[ /])", item), 16, PANEL - 50, "")
        return [line.rstrip() if i == 0 else f"   {line.strip()}" for i, line in enumerate(lines)]

    def routes(self) -> dict[Edge, Route]:
        """A route for every edge of the model, in its order."""
        return {edge: _route(self, edge) for edge in self.env.edges}


# --- edges -----------------------------------------------------------------------------------------------------------


def _route(layout: Layout, edge: Edge) -> Route:
    """Each kind of edge along its own path: straight between aligned boxes, buses and lanes where they fan out, and
    any other around the boxes."""
    env, rects = layout.env, layout.rects
    pair = (edge.source, edge.target)
    source, target = rects.get(edge.source), rects.get(edge.target)
    if edge.target in ("cp-endpoint", "aws-endpoints") and _inside(env, edge.source):
        return _endpoint_feed(layout, edge)
    if pair == ("clients", "lb"):
        return _arrow([(layout.through_x, source[3]), (layout.through_x, target[1])], edge.label, at=0.3)
    if edge.source == "lb" and target:
        x = layout.through_x if edge.target == "gateway" else _center_x(target)
        return _arrow([(x, source[3]), (x, target[1])], edge.label, at=0.08)
    if source and target and edge.target == "cache":
        x = _center_x(source)
        return _arrow([(x, source[3]), (x, target[1])], edge.label, at=0.45)
    if source and target and source[1] == target[1]:
        return _sideways(source, target, edge.label)
    if edge.source == "cluster":
        return _egress(layout, edge)
    if edge.source == "nat":
        return _nat_to_internet(layout, edge.label)
    if pair in (("cp-endpoint", "portkey"), ("portkey", "endpoint-service")):
        return _lane(layout, edge)
    return _detour(layout, edge)


def _arrow(points: list[Point], label: str = "", at: float = 0.5) -> Route:
    """One arrow, its label beside the point `at` of the way along it."""
    return Route((tuple(points),), label=(_along(points, at), label, "right"))


def _inside(env: Environment, node: str) -> bool:
    """Whether traffic from `node` starts in the cluster (a service's tasks, or any of them)."""
    return node == "cluster" or env.service(node) is not None


def _sideways(source: Rect, target: Rect, label: str) -> Route:
    """Between two boxes in a row; the way back runs just below, so each direction keeps its own port."""
    forward = source[0] < target[0]
    y = _center_y(source) + (-16 if forward else 16)
    start, end = (source[2], target[0]) if forward else (source[0], target[2])
    point = (min(start, end) + abs(end - start) // 2, y + (-17 if forward else 17))
    return Route((((start, y), (end, y)),), label=(point, label, "center"))


def _endpoint_feed(layout: Layout, edge: Edge) -> Route:
    """Tasks to an interface endpoint, along the bus above the endpoints' row. A service's start from its box and run
    down beside the cache, which spans the first two slots: the first slot's on the cluster's left, another's in the
    gap right of it. Those of any task start under the EC2 capacity."""
    rects, frame, bus_y = layout.rects, layout.frame, layout.endpoint_bus_y
    if edge.source == "cluster":
        x = _center_x(rects["capacity"])
        feed = [(x, frame[3])]
        label_y = (frame[3] + bus_y) // 2
    else:
        box = rects[edge.source]
        first = box[0] == layout.slots[0][0]
        x, side = (frame[0] + PAD // 2, box[0]) if first else (box[2] + SLOT_GAP // 2, box[2])
        feed = [(side, box[3] - PAD), (x, box[3] - PAD)]
        label_y = frame[3] + 28  # between the cluster and the cache
    target = rects[edge.target]
    points = [*feed, (x, bus_y), (_center_x(target), bus_y), (_center_x(target), target[1])]
    return Route((tuple(points),), label=((x, label_y), edge.label, "right"))


def _egress(layout: Layout, edge: Edge) -> Route:
    """Tasks to the NAT gateway of their AZ; without NAT gateways here, out through the VPC's own routes."""
    nats = [layout.rects[f"nat:{z}"] for z in layout.env.network.nat_zones]
    if not nats:
        x, internet = layout.columns[-1][1] - 89, layout.rects["internet"]
        points = [(x, layout.frame[1]), (x, layout.bus_y), (layout.igw_x, layout.bus_y), (layout.igw_x, internet[3])]
        return _arrow(points, edge.label, at=0.75)
    arrows = tuple(((_center_x(nat), layout.frame[1]), (_center_x(nat), nat[3])) for nat in nats)
    return Route(arrows, label=(_along(arrows[0], 0.4), edge.label, "right"))


def _nat_to_internet(layout: Layout, label: str) -> Route:
    """Up from each NAT gateway to a bus under the VPC's top edge, to the internet gateway on it, and out."""
    igw, internet, x, y = _igw(layout), layout.rects["internet"], layout.igw_x, layout.bus_y
    nats = [layout.rects[f"nat:{z}"] for z in layout.env.network.nat_zones]
    xs = [_center_x(nat) for nat in nats]
    lines = [((nat_x, nat[1]), (nat_x, y)) for nat_x, nat in zip(xs, nats)]
    lines.append(((min(xs + [x]), y), (max(xs + [x]), y)))
    out = ((x, igw[1]), (x, internet[3]))
    return Route((((x, y), (x, igw[3])), out), tuple(lines), (_along(out, 0.5), label, "right"))


def _lane(layout: Layout, edge: Edge) -> Route:
    """PrivateLink to and from Portkey, up the lanes between the VPC and the regional services."""
    rects = layout.rects
    portkey = rects["portkey"]
    label_y = (portkey[3] + layout.region_y) // 2 + 4
    if edge.source == "cp-endpoint":
        box, x = rects["cp-endpoint"], layout.lanes[0]
        points = ((box[2], _center_y(box)), (x, _center_y(box)), (x, portkey[3]))
        return Route((points,), label=((x, label_y), f"{edge.label} (out)", "left"))
    box, x = rects["endpoint-service"], layout.lanes[1]
    below = box[3] + 18
    points = ((x, portkey[3]), (x, below), (_center_x(box), below), (_center_x(box), box[3]))
    return Route((points,), label=((x, label_y), f"{edge.label} (in)", "right"))


def _detour(layout: Layout, edge: Edge) -> Route:
    """Any other edge (the endpoint service's NLB to the load balancer, a Lambda function to it), around the boxes:
    out of the source's side into the gutter beyond the VPC on its side (the region's margin on the left; right of
    the PrivateLink lanes on the right), along it, and into the target's facing side low down, below a box beside
    its top such as the WAF's. The label sits above that last leg, or in the gutter under the target when the leg is
    too short for it."""
    source, target = layout.rects[edge.source], layout.rects[edge.target]
    left = _center_x(source) < sum(layout.vpc_x) // 2
    x = (MARGIN + layout.vpc_x[0]) // 2 if left else (layout.lanes[1] + layout.panel_x[0]) // 2
    start = (source[0] if x < source[0] else source[2], _center_y(source))
    end = (target[0] if x < target[0] else target[2], target[3] - PAD)
    points = [start, (x, start[1]), (x, end[1]), end]
    if abs(end[0] - x) >= 120:
        label = (((x + end[0]) // 2, end[1] - 17), edge.label, "center")
    else:
        label = ((x, target[3] + 23), edge.label, "right" if left else "left")
    return Route((tuple(points),), label=label)


def _igw(layout: Layout) -> Rect:
    return layout.igw_x - 90, layout.vpc[1] - 22, layout.igw_x + 90, layout.vpc[1] + 22


# --- drawing ---------------------------------------------------------------------------------------------------------


def _draw_frames(canvas: _Canvas, layout: Layout) -> None:
    """Region, VPC, AZ columns, subnets and the cluster: the containers the boxes sit in."""
    env = layout.env
    canvas.frame((MARGIN, layout.region_y, WIDTH - MARGIN, layout.height - FOOTER), "#00A4A6", dashed=True)
    canvas.text((MARGIN + 14, layout.region_y + 12), f"AWS region {env.region or '(any)'}", 16, "#00868A", bold=True)
    canvas.frame(layout.vpc, KINDS["network"][0], width=3)
    state = "created here" if env.network.created else "existing"
    canvas.text((layout.vpc[0] + 14, layout.vpc[1] + 10), f"VPC ({state})", 17, KINDS["network"][0], bold=True)
    canvas.text((layout.vpc[0] + 14, layout.vpc[1] + 33), env.network.name, 15, KINDS["network"][0])
    for zone, column in zip(env.network.zones, layout.columns):
        _draw_zone(canvas, layout, zone, column)
    canvas.frame(layout.frame, KINDS["compute"][0], "#FFFBF7")
    canvas.text((layout.frame[0] + 12, layout.frame[1] + 11), "ECS cluster", 16, KINDS["compute"][0], bold=True)


def _draw_zone(canvas: _Canvas, layout: Layout, zone: str, column: tuple[int, int]) -> None:
    x0, x1 = column
    canvas.frame((x0, layout.band_y, x1, layout.private_bottom), "#5B9BD5", dashed=True)
    canvas.text((x0 + 12, layout.band_y + 10), zone, 16, "#1A5E99", bold=True)
    cells = ((True, layout.public[0], layout.public[1]), (False, layout.private_y, layout.private_bottom - 10))
    for public, y0, y1 in cells:
        subnet = layout.env.network.subnet(zone, public)
        if subnet is None:
            continue
        stroke, fill = PUBLIC if public else PRIVATE
        canvas.frame((x0 + 10, y0, x1 - 10, y1), stroke, fill)
        canvas.text((x0 + 22, y0 + 10), "Public subnet" if public else "Private subnet", 15, stroke, bold=True)
        detail = subnet.cidr or subnet.ref
        canvas.text((x0 + 22, y0 + 31), canvas.fit(detail, 15, x1 - x0 - 200), 15, INK)


def _draw_boxes(canvas: _Canvas, layout: Layout) -> None:
    env, rects = layout.env, layout.rects
    lb = env.load_balancer
    if lb:
        canvas.box(rects["clients"], "external", "Clients", [f"from {', '.join(lb.clients) or 'anywhere allowed'}"])
        title, lines = _lb_box(lb)
        canvas.box(rects["lb"], "network", title, lines, tag="Elastic Load Balancing")
    else:
        canvas.box(rects["lb"], "external", "No load balancer",
                   ["clients inside the VPC reach the gateway", "through Service Connect (gateway:8787)"])
    if "waf" in rects:
        canvas.box(rects["waf"], "security", "AWS WAF", [f"web ACL on the {env.load_balancer.short}"])
    canvas.box(rects["internet"], "external", "Internet", ["LLM providers"])
    canvas.box(rects["portkey"], "portkey", "Portkey control plane", ["hybrid data plane's control plane"])
    for zone in env.network.nat_zones:
        canvas.box(rects[f"nat:{zone}"], "network", "NAT")
    if env.network.nat_zones:
        canvas.box(_igw(layout), "network", "Internet gateway")
    for name in layout.services:
        canvas.box(rects[name], "compute", name, _service_lines(env.service(name)), tag="ECS service")
    canvas.box(rects["capacity"], "compute", "EC2 capacity", _capacity_lines(env.capacity), tag="ASG")
    if env.cache:
        title, lines, tag = _cache_box(env)
        canvas.box(rects["cache"], "database", title, lines, tag=tag)
    for node, kind, title, lines in layout.endpoints:
        canvas.box(rects[node], kind, title, lines)
    for rect, kind, title, lines in layout.panel:
        canvas.box(rect, kind, title, lines)


def _draw_title(canvas: _Canvas, env: Environment) -> None:
    canvas.text((MARGIN, 24), env.stack, 30, INK, bold=True)
    canvas.text((MARGIN, 64), "Portkey AI Gateway hybrid data plane on EC2-backed ECS", 17, MUTED)


def _draw_footer(canvas: _Canvas, layout: Layout) -> None:
    canvas.text((MARGIN, layout.height - 40),
                "Drawn from the synthesized CloudFormation templates by portkey_gateway.diagram. Arrows: traffic the "
                "security groups admit, with ports; NAT and PrivateLink paths out of the VPC.", 15, MUTED)


def render(env: Environment):
    """The picture of `env` as a Pillow image; the same model always gives the same pixels."""
    layout = Layout(env)
    canvas = _Canvas(layout.height)
    _draw_title(canvas, env)
    _draw_frames(canvas, layout)
    _draw_boxes(canvas, layout)
    for route in layout.routes().values():
        canvas.route(route)
    canvas.draw_labels()
    _draw_footer(canvas, layout)
    return canvas.image


def write_png(cdk_out: str | Path, output: str | Path) -> Path:
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    render(read_assembly(cdk_out)).save(output, format="PNG", optimize=True)
    return output


def main(argv: list[str] | None = None) -> int:
    """Write the picture; a missing or foreign assembly is one line on stderr and exit status 2, not a traceback."""
    parser = argparse.ArgumentParser(prog="python -m portkey_gateway.diagram", description=__doc__.splitlines()[0])
    parser.add_argument("cdk_out", help="the cloud assembly directory `cdk synth` wrote (cdk.out)")
    parser.add_argument("-o", "--output", required=True, help="the PNG to write")
    args = parser.parse_args(argv)
    try:
        output = write_png(args.cdk_out, args.output)
    except AssemblyError as error:
        print(f"diagram: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
