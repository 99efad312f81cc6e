# INTENTIONALLY VULNERABLE: a recreation of the exercise's starting point, kept only as the
# "before" for scans and for tools/docker_security_fixes.py's tests. Never deploy it.
# The hardened replacement is files/app/.
import subprocess

from flask import Flask, request

app = Flask(__name__)

# Vulnerability: a credential hard-coded in the source (and so in the image).
PASSWORD = "supersecretpassword"


@app.route("/")
def hello():
    name = request.args.get("name", "World")
    if not name.isalnum():
        return "Invalid name", 400
    return f"Hello, {name}!"


@app.route("/ping")
def ping():
    ip = request.args.get("ip")
    # Vulnerability: command injection, the argument goes to a shell unchecked.
    result = subprocess.check_output(f"ping -c 1 {ip}", shell=True)
    return result


@app.route("/calculate")
def calculate():
    expression = request.args.get("expr")
    # Vulnerability: remote code execution, any Python expression is evaluated.
    result = eval(expression)
    return f"Result: {result}"


if __name__ == "__main__":
    # Flask's development server, listening on every interface.
    app.run(host="0.0.0.0", port=5000)
