"""Hostile input the app must refuse: sent by tests/integration/test_app_http.py to the
deployed app, and by scripts/measure.py to the original and the hardened app side by side."""

# A file that any successful injection below would create in the web container.
MARKER = "/tmp/dockhard-pwned"

PING_INJECTIONS = [
    f"127.0.0.1; touch {MARKER}",
    f"127.0.0.1 && touch {MARKER}",
    f"127.0.0.1 | touch {MARKER}",
    f"$(touch {MARKER})",
    f"`touch {MARKER}`",
    "-c 100000 127.0.0.1",
    "-f",
    "--help",
    "127.0.0.1\ntouch /tmp/x",
]
CALC_CODE_EXECUTION = [
    f"__import__('os').system('touch {MARKER}')",
    "open('/etc/passwd').read()",
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: 1",
    "exec('1')",
    "[x for x in range(10)]",
    "a",
]
CALC_EXHAUSTION = [
    "9**9**9",
    "10**10**10",
    "999999**999",
    "(" * 100 + "1" + ")" * 100,
    "1+" * 150 + "1",
]
