#!/usr/bin/python3
"""Write the influxdb-proxy cluster configuration into Redis.

Edit BACKENDS, KEYMAPS, NODES and DEFAULT_NODE below (or keep them in a separate Python file and pass
--file PATH), then run this script. It validates everything first and reports every problem at once;
only a valid configuration is written, in one MULTI/EXEC transaction that also removes stale b:*, m:*
and n:* keys. Every proxy node is then told to reload through the channel influxdb-proxy:reload.

Redis layout (SPEC section 4):
    b:<backend>      hash  one InfluxDB backend
    m:<measurement>  list  backend names in order; m:_default_ is the fallback set
    default_node     hash  defaults for every node
    n:<node>         hash  one proxy node, overlaying default_node field by field
Numbers are decimal strings, booleans "0"/"1".

Runs with the system interpreter (/usr/bin/python3) and Debian's python3-redis; stdlib otherwise.
"""

# ---------------------------------------------------------------------------------------------------
# The cluster. Backend fields: url (required), db, zone, interval, timeout, timeoutquery, maxrowlimit,
# checkinterval, rewriteinterval, writeonly, username, password, gzip, insecure. Times are in ms;
# maxrowlimit is the most lines one upstream write carries (a bigger client write goes in pieces, in order);
# interval > 0 makes a write batch with fewer than maxrowlimit lines wait that long for more lines (and
# its clients for their answer): leave it at 0 for writes that leave at once.
BACKENDS = {
    "local": {
        "url": "http://127.0.0.1:8086",
        "zone": "local",
        "interval": 0,
        "timeout": 10000,
        "timeoutquery": 600000,
        "maxrowlimit": 10000,
        "checkinterval": 1000,
        "rewriteinterval": 10000,
    },
    "local2": {
        "url": "http://127.0.0.1:8087",
        "zone": "local",
        "interval": 0,
        "timeout": 10000,
        "timeoutquery": 600000,
        "maxrowlimit": 10000,
        "checkinterval": 1000,
        "rewriteinterval": 10000,
        "writeonly": False,
    },
}

# Measurement -> backend names, in query preference order. "_default_" is used for every
# measurement that has no entry of its own.
KEYMAPS = {
    "cpu": ["local"],
    "mem": ["local2"],
    "_default_": ["local", "local2"],
}

# Node fields: listenaddr, db, zone, nexts, interval, idletimeout, writetracing, querytracing, username,
# password, datadir, queuemaxmb, fsync, maxbodymb, threads, udpaddr, udpdb, udprp, udpprecision,
# httpscert, queryforbid.
NODES = {
    "l1": {
        "listenaddr": "127.0.0.1:6666",
        "zone": "local",
        "interval": 10,
        "idletimeout": 10,
        "writetracing": 0,
        "querytracing": 0,
    },
}

# Defaults shared by every node; a field set in NODES wins.
DEFAULT_NODE = {
    "listenaddr": ":6666",
}

# ---------------------------------------------------------------------------------------------------
# Nothing below needs editing.

import argparse
import runpy
import shlex
import sys
import time

RELOAD_CHANNEL = "influxdb-proxy:reload"
MASK = "******"
MAX_U64 = (1 << 64) - 1

# One table per hash: field -> (kind, min, max). The bounds are the daemon's (lib/cfg.c), so a config
# this script accepts is one the daemon accepts.
BACKEND_FIELDS = {
    "url": ("url", 0, 0),
    "db": ("str", 0, 0),
    "zone": ("str", 0, 0),
    "interval": ("int", 0, 3600000),
    "timeout": ("int", 1, 86400000),
    "timeoutquery": ("int", 1, 86400000),
    "maxrowlimit": ("int", 1, 10000000),
    "checkinterval": ("int", 1, 86400000),
    "rewriteinterval": ("int", 1, 86400000),
    "writeonly": ("bool", 0, 1),
    "username": ("str", 0, 0),
    "password": ("secret", 0, 0),
    "gzip": ("bool", 0, 1),
    "insecure": ("bool", 0, 1),
}

NODE_FIELDS = {
    "listenaddr": ("addr", 0, 0),
    "db": ("str", 0, 0),
    "zone": ("str", 0, 0),
    "nexts": ("nexts", 0, 0),
    "interval": ("int", 1, 86400),
    "idletimeout": ("int", 1, 86400),
    "writetracing": ("bool", 0, 1),
    "querytracing": ("bool", 0, 1),
    "username": ("str", 0, 0),
    "password": ("secret", 0, 0),
    "datadir": ("str", 0, 0),
    "queuemaxmb": ("int", 1, 1048576),
    "fsync": ("fsync", 0, 0),
    "maxbodymb": ("int", 1, 1024),
    "threads": ("int", 0, 64),
    "udpaddr": ("addr", 0, 0),
    "udpdb": ("str", 0, 0),
    "udprp": ("str", 0, 0),
    "udpprecision": ("precision", 0, 0),
    "udpreadbuffer": ("int", 0, 1073741824),
    "httpscert": ("str", 0, 0),
    "queryforbid": ("str", 0, 0),
}

PRECISIONS = ("n", "ns", "u", "us", "ms", "s", "m", "h")
FSYNCS = ("always", "everysec", "no")


class ConfigError(Exception):
    pass


# ---- validation ------------------------------------------------------------------------------------


def _valid_url(s):
    for scheme in ("http://", "https://"):
        if s.startswith(scheme):
            host = s[len(scheme):]
            break
    else:
        return False
    if host == "" or host[0] in "/:":
        return False
    return all(ord(c) > 32 and ord(c) != 127 for c in s)


def _valid_addr(s):
    host, sep, port = s.rpartition(":")
    if sep == "" or not port.isdigit() or not port.isascii() or int(port) > 65535:
        return False
    return all(ord(c) > 32 for c in host)


def _split_nexts(s):
    return [x.strip(" ") for x in s.split(",") if x.strip(" ") != ""]


def _encode(kind, lo, hi, value, where, name, backends, errors):
    """Returns the Redis string for one field value, or None after appending an error."""
    def bad(msg):
        errors.append('%s field "%s": %s' % (where, name, msg))
        return None

    if kind == "bool":
        if value is True or value is False:
            return "1" if value else "0"
        if isinstance(value, int) and value in (0, 1):
            return str(value)
        if isinstance(value, str) and value in ("0", "1"):
            return value
        return bad("not 0 or 1: %r" % (value,))
    if kind == "int":
        if isinstance(value, bool):
            return bad("not a non-negative integer: %r" % (value,))
        if isinstance(value, int):
            text = str(value)
        elif isinstance(value, str):
            text = value
        else:
            return bad("not a non-negative integer: %r" % (value,))
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_U64:
            return bad('not a non-negative integer: "%s"' % text)
        if not lo <= int(text) <= hi:
            return bad("%s is out of range [%d, %d]" % (text, lo, hi))
        return text
    if not isinstance(value, str):
        return bad("not a string: %r" % (value,))
    if "\0" in value:
        return bad("contains a NUL byte")
    if kind == "url" and not _valid_url(value):
        return bad('not an http:// or https:// URL with a host: "%s"' % value)
    if kind == "addr" and value != "" and not _valid_addr(value):
        return bad('not HOST:PORT or :PORT: "%s"' % value)
    if kind == "fsync" and value not in FSYNCS:
        return bad('not always, everysec or no: "%s"' % value)
    if kind == "precision" and value != "" and value not in PRECISIONS:
        return bad('not one of %s: "%s"' % (", ".join(PRECISIONS), value))
    if kind == "nexts":
        for b in _split_nexts(value):
            if b not in backends:
                errors.append('%s field "nexts": unknown backend "%s"' % (where, b))
    return value


def _encode_hash(where, fields, table, backends, errors):
    if not isinstance(fields, dict):
        errors.append("%s: must be a dict of fields, not %s" % (where, type(fields).__name__))
        return {}
    out = {}
    for name, value in fields.items():
        if not isinstance(name, str) or name not in table:
            errors.append('%s has unknown field "%s"' % (where, name))
            continue
        if value is None:
            continue
        kind, lo, hi = table[name]
        text = _encode(kind, lo, hi, value, where, name, backends, errors)
        if text is not None:
            out[name] = text
    return out


def _check_name(kind, name, errors):
    if not isinstance(name, str) or name == "":
        errors.append("%s: a name must be a non-empty string, not %r" % (kind, name))
        return False
    return True


def build_plan(backends, keymaps, nodes, default_node):
    """Validates the four dicts. Returns (plan, errors): plan maps each Redis key to ("hash", {field:
    str}) or ("list", [str]), in the order it is written; errors is a list of one-line messages naming
    the key and the field. The plan is meaningful only when errors is empty."""
    errors = []
    plan = {}
    for label, obj in (("BACKENDS", backends), ("KEYMAPS", keymaps), ("NODES", nodes), ("DEFAULT_NODE", default_node)):
        if not isinstance(obj, dict):
            errors.append("%s must be a dict, not %s" % (label, type(obj).__name__))
    if errors:
        return plan, errors

    names = set(n for n in backends if isinstance(n, str))
    for name in sorted(backends, key=str):
        if not _check_name("b:", name, errors):
            continue
        where = "b:" + name
        fields = _encode_hash(where, backends[name], BACKEND_FIELDS, names, errors)
        if isinstance(backends[name], dict) and "url" not in fields and backends[name].get("url") is None:
            errors.append('%s field "url": missing (required)' % where)
        plan[where] = ("hash", fields)

    if not keymaps:
        errors.append("KEYMAPS is empty (need at least _default_ or one measurement)")
    for meas in sorted(keymaps, key=str):
        if not _check_name("m:", meas, errors):
            continue
        where = "m:" + meas
        items = keymaps[meas]
        if isinstance(items, str) or not isinstance(items, (list, tuple)):
            errors.append("%s: must be a list of backend names, not %s" % (where, type(items).__name__))
            continue
        if len(items) == 0:
            errors.append("%s is an empty list (a keymap needs at least one backend)" % where)
        seen = set()
        for b in items:
            if not isinstance(b, str) or b not in names:
                errors.append('%s names unknown backend "%s"' % (where, b))
            elif b in seen:
                errors.append('%s names backend "%s" twice' % (where, b))
            else:
                seen.add(b)
        plan[where] = ("list", [str(b) for b in items])

    defaults = _encode_hash("default_node", default_node, NODE_FIELDS, names, errors)
    if defaults:
        plan["default_node"] = ("hash", defaults)
    for node in sorted(nodes, key=str):
        if not _check_name("n:", node, errors):
            continue
        where = "n:" + node
        fields = _encode_hash(where, nodes[node], NODE_FIELDS, names, errors)
        if not fields and not defaults:
            errors.append("%s has no fields and DEFAULT_NODE is empty (Redis cannot hold an empty hash; "
                          "set at least listenaddr)" % where)
        if fields.get("listenaddr", defaults.get("listenaddr")) == "":
            errors.append('%s field "listenaddr": empty' % where)
        if fields:
            plan[where] = ("hash", fields)
    return plan, errors


# ---- Redis ------------------------------------------------------------------------------------------


def parse_redis_addr(s):
    host, sep, port = s.rpartition(":")
    if sep == "" or host == "" or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError('--redis: not HOST:PORT: "%s"' % s)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def connect(args):
    import redis

    host, port = parse_redis_addr(args.redis)
    client = redis.Redis(host=host, port=port, db=args.db, password=args.password, socket_timeout=5,
                         socket_connect_timeout=3, decode_responses=True)
    try:
        client.ping()
    except redis.exceptions.RedisError as e:
        raise ConfigError("cannot connect to redis at %s (db %d): %s" % (args.redis, args.db, e))
    return client


def scan_config_keys(client):
    """Every b:*, m:* and n:* key, found with SCAN so a large Redis is never blocked."""
    keys = set()
    for pattern in ("b:*", "m:*", "n:*"):
        for key in client.scan_iter(match=pattern, count=500):
            keys.add(key)
    return keys


def stale_keys(plan, existing, has_default_node):
    stale = sorted(k for k in existing if k not in plan)
    if has_default_node and "default_node" not in plan:
        stale.append("default_node")
    return stale


def apply_plan(client, plan, stale):
    pipe = client.pipeline(transaction=True)
    for key, (kind, value) in plan.items():
        pipe.delete(key)
        if kind == "hash":
            pipe.hset(key, mapping=value)
        else:
            pipe.rpush(key, *value)
    for key in stale:
        pipe.delete(key)
    pipe.execute()


# ---- output -----------------------------------------------------------------------------------------


def _shown(field, value):
    return MASK if field == "password" and value != "" else value


def print_plan(plan, stale, out):
    q = shlex.quote
    print("MULTI", file=out)
    for key, (kind, value) in plan.items():
        print("DEL %s" % q(key), file=out)
        if kind == "hash":
            pairs = " ".join("%s %s" % (q(f), q(_shown(f, v))) for f, v in value.items())
            print("HSET %s %s" % (q(key), pairs), file=out)
        else:
            print("RPUSH %s %s" % (q(key), " ".join(q(v) for v in value)), file=out)
    for key in stale:
        print("DEL %s" % q(key), file=out)
    print("EXEC", file=out)
    print("PUBLISH %s <timestamp>" % RELOAD_CHANNEL, file=out)


def show(client, out):
    """Prints the configuration Redis holds now, one key per block, passwords masked."""
    keys = sorted(scan_config_keys(client))
    if client.exists("default_node"):
        keys.append("default_node")
    order = {"b": 0, "m": 1, "d": 2, "n": 3}
    keys.sort(key=lambda k: (order.get(k[0], 4), k))
    if not keys:
        print("(no influxdb-proxy configuration in this redis)", file=out)
    for key in keys:
        kind = client.type(key)
        if kind == "hash":
            print(key, file=out)
            fields = client.hgetall(key)
            width = max((len(f) for f in fields), default=0)
            for f in sorted(fields):
                print("    %-*s = %s" % (width, f, _shown(f, fields[f])), file=out)
        elif kind == "list":
            print("%s = [%s]" % (key, ", ".join(client.lrange(key, 0, -1))), file=out)
        else:
            print("%s: unexpected redis type %s" % (key, kind), file=out)
    proxies = sorted(client.scan_iter(match="p:*", count=500))
    if proxies:
        print("live proxies:", file=out)
        for key in proxies:
            print("    %s (expires in %ss)" % (key[2:], client.ttl(key)), file=out)


# ---- main -------------------------------------------------------------------------------------------


def load_file(path):
    try:
        ns = runpy.run_path(path)
    except (OSError, SyntaxError) as e:
        raise ConfigError("--file %s: %s" % (path, e))
    missing = [n for n in ("BACKENDS", "KEYMAPS", "NODES", "DEFAULT_NODE") if n not in ns]
    if missing:
        raise ConfigError("--file %s: does not define %s" % (path, ", ".join(missing)))
    return ns["BACKENDS"], ns["KEYMAPS"], ns["NODES"], ns["DEFAULT_NODE"]


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="config.py",
        description="Validate the influxdb-proxy cluster configuration (BACKENDS, KEYMAPS, NODES, "
        "DEFAULT_NODE) and write it into Redis atomically, then tell every node to reload.")
    p.add_argument("--redis", default="127.0.0.1:6379", metavar="HOST:PORT",
                   help="Redis server (default 127.0.0.1:6379)")
    p.add_argument("--password", default=None, help="Redis password")
    p.add_argument("--db", type=int, default=0, metavar="N", help="Redis database number (default 0)")
    p.add_argument("--file", metavar="PATH",
                   help="read BACKENDS, KEYMAPS, NODES and DEFAULT_NODE from this Python file "
                   "instead of the ones at the top of config.py")
    p.add_argument("--dry-run", action="store_true", help="validate and print the commands that would be run (stale keys too when Redis is reachable); write nothing")
    p.add_argument("--show", action="store_true", help="print the configuration Redis holds now; write nothing")
    args = p.parse_args(argv)
    if args.db < 0:
        p.error("--db: must be >= 0")
    return args


def run(args):
    if args.show:
        show(connect(args), sys.stdout)
        return 0
    if args.file:
        config = load_file(args.file)
    else:
        config = (BACKENDS, KEYMAPS, NODES, DEFAULT_NODE)
    plan, errors = build_plan(*config)
    if errors:
        for line in errors:
            print("config: %s" % line, file=sys.stderr)
        print("config.py: %d problem(s); nothing written" % len(errors), file=sys.stderr)
        return 1
    if args.dry_run:
        stale = []
        try:
            client = connect(args)
            stale = stale_keys(plan, scan_config_keys(client), client.exists("default_node"))
        except ConfigError as e:
            print("config.py: %s; stale keys are not listed" % e, file=sys.stderr)
        print_plan(plan, stale, sys.stdout)
        return 0
    client = connect(args)
    stale = stale_keys(plan, scan_config_keys(client), client.exists("default_node"))
    apply_plan(client, plan, stale)
    stamp = "%.6f" % time.time()
    receivers = client.publish(RELOAD_CHANNEL, stamp)
    def count(prefix, noun):
        n = sum(1 for k in plan if k.startswith(prefix))
        return "%d %s%s" % (n, noun, "" if n == 1 else "s")

    print("config.py: wrote %s, %s, %s%s to redis %s db %d; removed %s; reload published to %d subscriber(s)" %
          (count("b:", "backend"), count("m:", "keymap"), count("n:", "node"),
           " and default_node" if "default_node" in plan else "", args.redis, args.db,
           "%d stale key%s" % (len(stale), "" if len(stale) == 1 else "s"), receivers))
    return 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except ConfigError as e:
        print("config.py: %s" % e, file=sys.stderr)
        return 1
    except ImportError as e:
        print("config.py: %s (install python3-redis and run with /usr/bin/python3)" % e, file=sys.stderr)
        return 1
    except Exception as e:  # a Redis failure after connecting, e.g. the server went away
        import redis

        if isinstance(e, redis.exceptions.RedisError):
            print("config.py: redis %s: %s" % (args.redis, e), file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
