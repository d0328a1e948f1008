"""Pasted logs and code for the error-log archetype.

Made by functions rather than templates: code is full of braces, and its numbers (lines, ports,
timestamps) should vary. Some of it is hostile-looking HTML, which a dashboard must show as text.
"""

from __future__ import annotations

from collections.abc import Callable

from simgap_core.demo.pen import Pen

_FILES = ("app", "main", "utils", "views", "models", "handler", "script", "run", "tasks", "cli")
_FUNCS = ("load_data", "parse_row", "handle", "compute_total", "render", "fetch", "update", "run")


def _python_traceback(pen: Pen) -> str:
    error, message, line = pen.pick(
        (
            ("KeyError", "'{}'".format(pen.pick(("price", "user_id", "name", "date"))), "row[key]"),
            ("TypeError", "unsupported operand type(s) for +: 'int' and 'str'", "total += value"),
            ("AttributeError", "'NoneType' object has no attribute 'get'", "config.get('path')"),
            ("ValueError", "could not convert string to float: ''", "float(cell)"),
            ("IndexError", "list index out of range", "items[i + 1]"),
            ("ModuleNotFoundError", "No module named 'pandas'", "import pandas as pd"),
            ("FileNotFoundError", "[Errno 2] No such file or directory: 'data.csv'", "open(path)"),
            ("ZeroDivisionError", "division by zero", "average = total / count"),
        )
    )
    first, second = pen.sample(_FILES, 2)
    return (
        "Traceback (most recent call last):\n"
        f'  File "{first}.py", line {pen.between(3, 240)}, in <module>\n'
        f"    {pen.pick(_FUNCS)}(args)\n"
        f'  File "{second}.py", line {pen.between(3, 240)}, in {pen.pick(_FUNCS)}\n'
        f"    {line}\n"
        f"{error}: {message}"
    )


def _javascript_error(pen: Pen) -> str:
    prop = pen.pick(("map", "length", "id", "value", "then", "name"))
    return (
        f"Uncaught TypeError: Cannot read properties of undefined (reading '{prop}')\n"
        f"    at {pen.pick(_FUNCS)} ({pen.pick(_FILES)}.js:{pen.between(5, 400)}:"
        f"{pen.between(2, 60)})\n"
        f"    at HTMLButtonElement.<anonymous> (index.js:{pen.between(5, 90)}:{pen.between(2, 40)})"
    )


def _java_exception(pen: Pen) -> str:
    cls = pen.pick(("OrderService", "Parser", "UserRepository", "Scheduler", "Report"))
    return (
        'Exception in thread "main" java.lang.NullPointerException: Cannot invoke '
        f'"String.length()" because "{pen.pick(("name", "input", "line", "token"))}" is null\n'
        f"\tat com.example.{cls}.{pen.pick(('load', 'parse', 'build', 'save'))}"
        f"({cls}.java:{pen.between(10, 300)})\n"
        f"\tat com.example.Main.main(Main.java:{pen.between(5, 60)})"
    )


def _npm_error(pen: Pen) -> str:
    return (
        "npm ERR! code ERESOLVE\n"
        "npm ERR! ERESOLVE unable to resolve dependency tree\n"
        f"npm ERR! Found: react@{pen.between(16, 19)}.{pen.between(0, 3)}.{pen.between(0, 9)}\n"
        f'npm ERR! Could not resolve dependency: peer react@"^{pen.between(15, 17)}.0.0"'
    )


def _server_log(pen: Pen) -> str:
    service = pen.pick(("api", "worker", "billing", "auth", "scheduler"))
    month, day, hour = pen.between(1, 12), pen.between(1, 28), pen.between(0, 23)
    stamp = f"2024-{month:02d}-{day:02d} {hour:02d}:{pen.between(0, 59):02d}"
    return (
        f"{stamp}:{pen.between(0, 59):02d} INFO  [{service}] starting job\n"
        f"{stamp}:{pen.between(0, 59):02d} WARN  [{service}] retrying in {pen.between(1, 30)}s "
        f"(attempt {pen.between(1, 3)}/3)\n"
        f"{stamp}:{pen.between(0, 59):02d} ERROR [{service}] request failed: "
        f"{pen.pick(('500 Internal Server Error', '502 Bad Gateway', 'timeout after 30000 ms'))}"
    )


def _spreadsheet_error(pen: Pen) -> str:
    row = pen.between(2, 400)
    formula = pen.pick(
        (
            f"=VLOOKUP(A{row},Sheet2!A:C,3,FALSE)",
            f"=SUM(B2:B{row})/COUNT(C2:C{row})",
            f'=IF(D{row}>0,D{row}*1.2,"")+E{row}',
        )
    )
    return f"formula: {formula}\nresult: {pen.pick(('#N/A', '#VALUE!', '#DIV/0!', '#REF!'))}"


def _sql_error(pen: Pen) -> str:
    column = pen.pick(("created_at", "user_name", "total_price", "category"))
    table = pen.pick(("orders", "users", "recipes", "expenses", "bookings"))
    query = f"SELECT {column} FROM {table} WHERE id = {pen.between(1, 999)};"
    return f'ERROR:  column "{column}" does not exist\nLINE 1: {query}\n' + " " * 15 + "^"


def _compiler_error(pen: Pen) -> str:
    name = pen.pick(_FILES)
    line, column = pen.between(3, 200), pen.between(2, 40)
    message = pen.pick(
        (
            "error: expected ';' before '}' token",
            f"error: '{pen.pick(('count', 'buf', 'i', 'result'))}' undeclared (first use in "
            "this function)",
            "warning: implicit declaration of function 'strcpy_s'",
        )
    )
    return f"{name}.c: In function 'main':\n{name}.c:{line}:{column}: {message}"


def _buggy_code(pen: Pen) -> str:
    func = pen.pick(_FUNCS)
    return (
        f"def {func}(items):\n"
        "    total = 0\n"
        "    for i in range(len(items) + 1):\n"
        "        total += items[i]\n"
        "    return total\n\n"
        f"print({func}([{pen.between(1, 9)}, {pen.between(1, 9)}, {pen.between(1, 9)}]))\n"
        "IndexError: list index out of range"
    )


def _html_snippet(pen: Pen) -> str:
    title = pen.pick(("Welcome", "Menu", "Total", "Your order", "Profile"))
    payload = pen.pick(
        (
            "<script>alert(1)</script>",
            '<img src=x onerror="alert(1)">',
            "<b>{{ user.name }}</b>",
            '<a href="javascript:alert(document.cookie)">click</a>',
        )
    )
    return (
        '<div class="card">\n'
        f"  <b>{title}</b>\n"
        f"  {payload}\n"
        "</div>\n"
        "the page shows <b>undefined</b> instead of the name and the console says:\n"
        f"Uncaught SyntaxError: Unexpected token '<' (at index.html:{pen.between(5, 80)})"
    )


def _docker_error(pen: Pen) -> str:
    port = pen.pick((80, 443, 3000, 5432, 8000, 8080))
    return (
        "docker: Error response from daemon: driver failed programming external connectivity "
        f"on endpoint {pen.pick(_FILES)}_{pen.between(1, 9)}: Bind for 0.0.0.0:{port} failed: "
        "port is already allocated."
    )


def _git_error(pen: Pen) -> str:
    repo = pen.pick(("notes", "site", "budget-app", "thesis", "bot"))
    return (
        f"error: failed to push some refs to 'github.com:{pen.pick(('sam', 'kai', 'lee'))}"
        f"/{repo}.git'\n"
        "hint: Updates were rejected because the tip of your current branch is behind\n"
        "hint: its remote counterpart."
    )


def _device_error(pen: Pen) -> str:
    code = pen.between(1, 99)
    return (
        f"Error E{code:02d}: {pen.pick(('sensor', 'sync', 'memory', 'connection'))} fault "
        f"(code 0x{pen.between(4096, 65535):04X})\n"
        f"FATAL EXCEPTION: main\nProcess: com.{pen.pick(('planner', 'tracker', 'helper'))}.app, "
        f"PID: {pen.between(1000, 32000)}\n"
        "java.lang.IllegalStateException: Fragment not attached to a context."
    )


SNIPPETS: tuple[Callable[[Pen], str], ...] = (
    _python_traceback,
    _python_traceback,
    _javascript_error,
    _java_exception,
    _npm_error,
    _server_log,
    _spreadsheet_error,
    _sql_error,
    _compiler_error,
    _buggy_code,
    _html_snippet,
    _docker_error,
    _git_error,
    _device_error,
)
